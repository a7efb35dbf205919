#ifndef GANNET_HEAP_STATISTICS_H
#define GANNET_HEAP_STATISTICS_H
#include <stddef.h>

/// Bytes currently allocated through malloc (glibc's mallinfo2().uordblks): lets tests
/// assert that a steady-state loop does not grow the heap.
size_t gannet_heap_allocated_bytes(void);

#endif
