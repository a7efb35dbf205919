#ifndef GANNET_CMPI_SHIM_H
#define GANNET_CMPI_SHIM_H
/* The MPI calls Gannet makes, as small C functions over plain C types. Built against
 * Open MPI when pkg-config finds `ompi-c` (its include path makes <mpi.h> visible);
 * otherwise the same functions exist and report that MPI support was not built, so
 * Gannet compiles and runs single-process without MPI installed. Open MPI's predefined
 * handles are macros over the addresses of globals, which Swift cannot import: another
 * reason the calls live here. */
#include <stdint.h>
#include <string.h>

/* An MPI_Request, stored by value (a pointer in Open MPI, an int in MPICH). */
typedef uint64_t gannet_mpi_request;

#if __has_include(<mpi.h>)
#include <mpi.h>

_Static_assert(sizeof(MPI_Request) <= sizeof(gannet_mpi_request), "MPI_Request does not fit");

static inline int gannet_mpi_is_built(void) { return 1; }

/* Initialises MPI (funneled) with errors returned rather than aborting; 0 on success. */
static inline int gannet_mpi_init(int *rank, int *size) {
    int provided = 0;
    int status = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (status != MPI_SUCCESS) return status;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}
static inline void gannet_mpi_finalize(void) { MPI_Finalize(); }
static inline int gannet_mpi_allreduce_sum_float(float *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static inline int gannet_mpi_allreduce_sum_double(double *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static inline int gannet_mpi_allreduce_min_long(long *value) {
    return MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
}
static inline int gannet_mpi_iallreduce_sum_float(float *buffer, int count, gannet_mpi_request *request) {
    MPI_Request handle;
    int status = MPI_Iallreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &handle);
    memcpy(request, &handle, sizeof handle);
    return status;
}
static inline int gannet_mpi_test(gannet_mpi_request *request, int *done) {
    MPI_Request handle;
    memcpy(&handle, request, sizeof handle);
    int status = MPI_Test(&handle, done, MPI_STATUS_IGNORE);
    memcpy(request, &handle, sizeof handle);
    return status;
}
static inline int gannet_mpi_wait(gannet_mpi_request *request) {
    MPI_Request handle;
    memcpy(&handle, request, sizeof handle);
    int status = MPI_Wait(&handle, MPI_STATUS_IGNORE);
    memcpy(request, &handle, sizeof handle);
    return status;
}
static inline int gannet_mpi_bcast_float(float *buffer, int count, int root) {
    return MPI_Bcast(buffer, count, MPI_FLOAT, root, MPI_COMM_WORLD);
}
static inline int gannet_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static inline void gannet_mpi_error_string(int status, char *text, int capacity) {
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, buffer, &length);
    if (capacity <= 0) return;
    if (length >= capacity) length = capacity - 1;
    memcpy(text, buffer, (size_t)length);
    text[length] = 0;
}

#else  /* No MPI at build time: every call fails with -1. */

static inline int gannet_mpi_is_built(void) { return 0; }
static inline int gannet_mpi_init(int *rank, int *size) { *rank = 0; *size = 1; return -1; }
static inline void gannet_mpi_finalize(void) {}
static inline int gannet_mpi_allreduce_sum_float(float *buffer, int count) { return -1; }
static inline int gannet_mpi_allreduce_sum_double(double *buffer, int count) { return -1; }
static inline int gannet_mpi_allreduce_min_long(long *value) { return -1; }
static inline int gannet_mpi_iallreduce_sum_float(float *buffer, int count, gannet_mpi_request *request) { return -1; }
static inline int gannet_mpi_test(gannet_mpi_request *request, int *done) { *done = 1; return -1; }
static inline int gannet_mpi_wait(gannet_mpi_request *request) { return -1; }
static inline int gannet_mpi_bcast_float(float *buffer, int count, int root) { return -1; }
static inline int gannet_mpi_barrier(void) { return -1; }
static inline void gannet_mpi_error_string(int status, char *text, int capacity) {
    const char *message = "Gannet was built without MPI";
    strncpy(text, message, (size_t)capacity);
    if (capacity > 0) text[capacity - 1] = 0;
}
#endif
#endif
