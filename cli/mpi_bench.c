/* mpi_bench.c - `mpirun -np N seqboat bench` (placeholder, filled below). */
#include "sb_mpi.h"
#include "cli.h"
int sbmpi_bench_main(int argc, char **argv) { return cli_bench(argc, argv); }
