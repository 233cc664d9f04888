/* cli_mpi.c - how `seqboat run` and `seqboat bench` find out that mpirun (or
 * srun) started them, and hand over to the MPI layer (sb_mpi.h) when this
 * program was built with it (-DSEQBOAT_MPI=ON|AUTO and MPI found). The entry
 * of `seqboat bench` (cli_bench) is here: it picks the one-process sweep or
 * the MPI one. */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
#ifdef SEQBOAT_HAVE_MPI
#include "sb_mpi.h"
#endif

/* Size of the job the launcher started this process in: Open MPI's mpirun
 * (OMPI_COMM_WORLD_SIZE), PMI-1/2 launchers such as MPICH's hydra
 * (PMI_SIZE), PMIx launchers (PMIX_RANK: size unknown here, taken as 2).
 * 0 when no launcher is seen. */
int cli_mpi_launched(void) {
    const char *v;
    if ((v = getenv("OMPI_COMM_WORLD_SIZE")) && *v) return atoi(v) > 0 ? atoi(v) : 1;
    if ((v = getenv("PMI_SIZE")) && *v) return atoi(v) > 0 ? atoi(v) : 1;
    if ((v = getenv("PMIX_RANK")) && *v) return 2;
    return 0;
}

int cli_mpi_built(void) {
#ifdef SEQBOAT_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int cli_run_mpi(const char *model, const char *in, const char *out, const char *device,
                long chunk_tokens, int stats, int precision, int weights) {
#ifdef SEQBOAT_HAVE_MPI
    char msg[SBMPI_MSG];
    int rank = 0, provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "seqboat run: MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    sbmpi_run_options o = {device, NULL, chunk_tokens, stats, precision, weights};
    int rc = sbmpi_run_file(MPI_COMM_WORLD, model, in, out, &o, msg);
    if (rc != 0 && rank == 0) fprintf(stderr, "seqboat run: %s\n", msg);
    MPI_Finalize();
    return rc;
#else
    (void)model, (void)in, (void)out, (void)device, (void)chunk_tokens, (void)stats;
    (void)precision, (void)weights;
    fprintf(stderr, "seqboat run: started by an MPI launcher with %d processes, but this seqboat "
            "was built without MPI (configure with -DSEQBOAT_MPI=ON; needs libopenmpi-dev)\n",
            cli_mpi_launched());
    return 1;
#endif
}

/* `seqboat bench`: one process sweeps its devices (cli_bench.c); under an MPI
 * launcher every rank does and rank 0 gathers (mpi_bench.c). The choice is
 * made here, above both, so neither calls back into the other. */
int cli_bench(int argc, char **argv) {
    if (!CLI_USE_MPI()) return cli_bench_ranked(argc, argv, NULL);
#ifdef SEQBOAT_HAVE_MPI
    return sbmpi_bench_main(argc, argv);
#else
    fprintf(stderr, "seqboat bench: started by an MPI launcher with %d processes, but this seqboat "
            "was built without MPI (configure with -DSEQBOAT_MPI=ON; needs libopenmpi-dev)\n",
            cli_mpi_launched());
    return 1;
#endif
}
