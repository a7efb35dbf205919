#ifndef GANNET_CMPI_SHIM_H
#define GANNET_CMPI_SHIM_H
#include <mpi.h>

/* Open MPI's predefined handles are macros over the addresses of globals, which Swift
 * cannot import: these functions return them. */
static inline MPI_Comm gannet_mpi_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype gannet_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype gannet_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype gannet_mpi_long(void) { return MPI_LONG; }
static inline MPI_Op gannet_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op gannet_mpi_min(void) { return MPI_MIN; }
static inline MPI_Op gannet_mpi_max(void) { return MPI_MAX; }
static inline void *gannet_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler gannet_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
#endif
