/* mpi_bench.c - `mpirun -np N seqboat bench`: every rank runs the sweep of
 * cli_bench.c on its own devices (without --device: the node-local rank's
 * device; --device all: the node's devices shared out by node-local rank;
 * --device D: D on every rank), then rank 0 gathers every rank's devices and
 * result rows (each stamped with host name and rank) and writes one JSON /
 * CSV. The rows travel as bytes: every rank runs the same seqboat binary.
 * Ranks on one node run at the same time, so they share that node's host
 * (and a shared device): one rank per GPU measures each GPU alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "cli.h"
#include "sb_mpi.h"

/* Gather n items of `size` bytes from every rank into one array on rank 0
 * (rank order). Returns the array (rank 0; NULL elsewhere) and its count. */
static void *gather_bytes(MPI_Comm comm, const void *mine, int n, size_t size, int *total, int *ok) {
    int me, np;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &np);
    int *counts = me == 0 ? calloc((size_t)np, sizeof *counts) : NULL;
    int *displ = me == 0 ? calloc((size_t)np, sizeof *displ) : NULL;
    int bytes = (int)((size_t)n * size);
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    char *all = NULL;
    *total = 0;
    if (me == 0) {
        size_t sum = 0;
        for (int r = 0; r < np; r++) {
            displ[r] = (int)sum;
            sum += (size_t)counts[r];
        }
        all = malloc(sum ? sum : 1);
        if (!all) *ok = 0;
        *total = (int)(sum / size);
    }
    /* on out of memory rank 0 still takes part, into a scratch byte per rank */
    char scratch[1];
    if (me == 0 && !all)
        for (int r = 0; r < np; r++) counts[r] = 0, displ[r] = 0;
    MPI_Gatherv(mine, me == 0 && !all ? 0 : bytes, MPI_BYTE, all ? all : scratch, counts, displ,
                MPI_BYTE, 0, comm);
    free(counts);
    free(displ);
    return all;
}

static int gather(const cli_bench_ranks *br, sb_bench_report *rep, int rc) {
    MPI_Comm comm = MPI_COMM_WORLD;
    int worst = rc, ok = 1, nd = 0, nr = 0;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, comm);
    sb_bench_device *dev = gather_bytes(comm, rep->dev, rep->n_dev, sizeof *rep->dev, &nd, &ok);
    sb_bench_row *rows = gather_bytes(comm, rep->rows, rep->n_rows, sizeof *rep->rows, &nr, &ok);
    if (br->rank != 0) return worst;
    if (!ok) {
        free(dev);
        free(rows);
        fprintf(stderr, "seqboat bench: out of host memory gathering the ranks' results\n");
        return worst ? worst : 1;
    }
    free(rep->dev);
    free(rep->rows);
    rep->dev = dev, rep->n_dev = rep->cap_dev = nd;
    rep->rows = rows, rep->n_rows = rep->cap_rows = nr;
    return worst;
}

int sbmpi_bench_main(int argc, char **argv) {
    int provided = 0, rc;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "seqboat bench: MPI_Init failed\n");
        return 1;
    }
    cli_bench_ranks br;
    char sel[64] = "", msg[SBMPI_MSG] = "";
    memset(&br, 0, sizeof br);
    MPI_Comm_rank(MPI_COMM_WORLD, &br.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &br.size);
    sbmpi_host(br.host, sizeof br.host);
    int ok = sbmpi_node_rank(MPI_COMM_WORLD, &br.local_rank, &br.local_size) == 0;
    if (!ok) snprintf(msg, sizeof msg, "MPI_Comm_split_type failed");
    const char *env = getenv("SEQBOAT_DEVICE");
    if (ok && !(env && *env)) {
        if (sbmpi_pick_device(br.local_rank, sel, sizeof sel, msg) == 0) br.default_device = sel;
        else sel[0] = '\0'; /* --device all or D may still work; without, the sweep reports it */
    }
    if (sbmpi_agree(MPI_COMM_WORLD, ok, msg) >= 0) {
        if (br.rank == 0) fprintf(stderr, "seqboat bench: %s\n", msg);
        MPI_Finalize();
        return 1;
    }
    br.gather = gather;
    rc = cli_bench_ranked(argc, argv, &br);
    MPI_Finalize();
    return rc;
}
