// Open MPI through functions Swift can import: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and friends are macros over
// global objects (`&ompi_mpi_comm_world`), which the Clang importer does not turn into Swift values. Every function
// works on MPI_COMM_WORLD and returns MPI's error code.
#ifndef SWIFTCPC_CMPI_SHIM_H
#define SWIFTCPC_CMPI_SHIM_H
#include <mpi.h>

/// MPI_Init_thread asking for MPI_THREAD_SERIALIZED (only the training thread calls MPI); *provided gets the level.
static inline int cmpi_init(int *provided) { return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided); }
static inline int cmpi_initialized(int *flag) { return MPI_Initialized(flag); }
static inline int cmpi_finalize(void) { return MPI_Finalize(); }
static inline int cmpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }
static inline int cmpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }
static inline int cmpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static inline int cmpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

/// Sum to rank 0, then broadcast: the same bits on every rank, whatever algorithm MPI_Allreduce would pick.
static inline int cmpi_sum_typed(void *values, int count, MPI_Datatype type) {
    int rank, error = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (error != MPI_SUCCESS) return error;
    error = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : values, values, count, type, MPI_SUM, 0, MPI_COMM_WORLD);
    if (error != MPI_SUCCESS) return error;
    return MPI_Bcast(values, count, type, 0, MPI_COMM_WORLD);
}
static inline int cmpi_sum_float(float *values, int count) { return cmpi_sum_typed(values, count, MPI_FLOAT); }
static inline int cmpi_sum_double(double *values, int count) { return cmpi_sum_typed(values, count, MPI_DOUBLE); }
static inline int cmpi_max_double(double *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}
static inline int cmpi_broadcast_float(float *values, int count, int root) {
    return MPI_Bcast(values, count, MPI_FLOAT, root, MPI_COMM_WORLD);
}
static inline int cmpi_allgather_float(const float *local, int count, float *result) {
    return MPI_Allgather(local, count, MPI_FLOAT, result, count, MPI_FLOAT, MPI_COMM_WORLD);
}
static inline int cmpi_reduce_scatter_float(const float *values, float *own, int count) {
    return MPI_Reduce_scatter_block(values, own, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static inline int cmpi_error_string(int code, char *text, int *length) { return MPI_Error_string(code, text, length); }
#endif
