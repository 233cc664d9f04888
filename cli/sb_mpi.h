/*
 * sb_mpi.h - seqboat over MPI ranks: `mpirun -np N seqboat run` and
 * `mpirun -np N seqboat bench`. An example of driving the library (seqboat.h,
 * which knows nothing about MPI) from an MPI program; the functions below are
 * usable from any C program that has called MPI_Init (see sbmpi_run_file).
 * Built when CMake finds MPI (-DSEQBOAT_MPI=ON|OFF|AUTO, AUTO by default).
 *
 * The scheme (cli/mpi_run.c):
 *   - every rank loads the model with the same weight storage (precision /
 *     weights of sbmpi_run_options, as sb_options: f32, f16, bf16 or int8),
 *     so the output is what one process with that storage writes;
 *   - every rank picks a device: its node-local rank (MPI_Comm_split_type with
 *     MPI_COMM_TYPE_SHARED) indexes the node's GPUs (or every device when the
 *     node has no GPU), unless a device selection is given (option --device or
 *     env SEQBOAT_DEVICE), which then holds for every rank; a comma-separated
 *     selection gives a rank several devices;
 *   - rank 0 reads the input file's safetensors header and the `lengths`
 *     tensor and broadcasts them; the sequences are cut into contiguous runs,
 *     one per rank, balanced by valid tokens weighted by each rank's device
 *     count (sbmpi_split);
 *   - every rank reads only its own rows of `input` with pread() at offsets
 *     the header gives, in chunks of sequences, runs them with
 *     sb_model_forward and writes the rows of `output` with pwrite() into a
 *     temporary file that rank 0 created with the final size; when every rank
 *     has finished rank 0 renames it into place. With relu2 attention the
 *     file equals, byte for byte, what one process's sb_model_run_file writes
 *     (same header; a sequence's outputs do not depend on which other
 *     sequences share its forward); with softmax it agrees within SPEC
 *     tolerance (the last bits of the softmax sums may change);
 *   - after each step every rank reports success or failure (sbmpi_agree): a
 *     failure anywhere stops every rank with the failing rank's message, and
 *     the temporary file is removed.
 *
 * Files: mpi_common.c (agreement, node-local rank, device pick), mpi_split.c
 * (the split, no MPI), mpi_run.c (sbmpi_run_file), mpi_bench.c (`seqboat
 * bench` over ranks; needs cli_bench.c). To use sbmpi_run_file in another MPI
 * program, compile mpi_common.c, mpi_split.c and mpi_run.c with it and link
 * seqboat, cJSON and MPI:
 *
 *     MPI_Init(&argc, &argv);
 *     char msg[SBMPI_MSG];
 *     sbmpi_run_options o = {NULL, NULL, 0, 1, SB_PREC_F16, 0}; // node-local device, --stats, f16
 *     int rc = sbmpi_run_file(MPI_COMM_WORLD, "m.safetensors", "in.safetensors",
 *                             "out.safetensors", &o, msg);
 *     int rank;
 *     MPI_Comm_rank(MPI_COMM_WORLD, &rank);
 *     if (rc != 0 && rank == 0) fprintf(stderr, "%s\n", msg);
 *     MPI_Finalize();
 *
 * The library calls are those of one process (sb_model_load, sb_model_forward
 * on each chunk); everything MPI is here.
 */
#ifndef SB_MPI_H
#define SB_MPI_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define SBMPI_MSG 1024 /* message buffers: at least this many bytes */

/* Options of sbmpi_run_file. */
typedef struct sbmpi_run_options {
    const char *device;    /* NULL: SEQBOAT_DEVICE if set, else the node-local rank's device */
    const char *cache_dir; /* NULL: the library's default */
    long chunk_tokens;     /* padded tokens per forward and device (0: 65536) */
    int stats;             /* 1: print the per-rank lines (and rank 0 a total) to stderr */
    int precision;         /* sb_options.precision of every rank's load (0: f32) */
    int weights;           /* sb_options.weights of every rank's load (0: as precision) */
} sbmpi_run_options;

/* Collective over comm: run `in` through the model into `out` (SPEC section 5
 * files). Returns 0 on every rank on success. On failure every rank returns 1
 * and msg (SBMPI_MSG bytes) holds the failing rank's message, prefixed with
 * "rank R of N on HOST: "; no output file is left. */
int sbmpi_run_file(MPI_Comm comm, const char *model, const char *in, const char *out,
                   const sbmpi_run_options *opt, char *msg);

/* Collective: every rank passes ok (1/0) and, when not ok, its message in msg.
 * Returns -1 when all are ok, else the lowest failing rank, whose message is
 * then copied into msg on every rank. */
int sbmpi_agree(MPI_Comm comm, int ok, char *msg);

/* This rank's place on its node (collective). */
int sbmpi_node_rank(MPI_Comm comm, int *local_rank, int *local_size);

/* The device selection of node-local rank `local_rank`: the index of its GPU
 * (local_rank modulo the node's GPUs) or, without GPUs, of any device, as a
 * string into sel. 0 on success, else -1 with a message in msg. */
int sbmpi_pick_device(int local_rank, char *sel, size_t cap, char *msg);

/* Number of devices a selection names (comma-separated items), at least 1. */
int sbmpi_device_count(const char *sel);

/* Host name of this process (MPI_Get_processor_name). */
void sbmpi_host(char *buf, size_t cap);

/* Cut B sequences of valid lengths len[0..B) into nranks contiguous runs
 * [cut[r], cut[r+1]) with token shares as close as possible to
 * weight[r] / sum(weight) (weights >= 1). cut has nranks + 1 entries,
 * cut[0] = 0, cut[nranks] = B; runs may be empty (more ranks than sequences).
 * No MPI inside: the same on every rank. */
void sbmpi_split(int B, const int32_t *len, int nranks, const int *weight, int *cut);

/* `seqboat bench` over ranks (cli/mpi_bench.c): MPI_Init, the bench on this
 * rank's devices, every rank's results gathered into rank 0's JSON / CSV
 * (each row naming host and rank), MPI_Finalize. Returns the exit status. */
int sbmpi_bench_main(int argc, char **argv);

#endif
