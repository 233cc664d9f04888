/* mpi_common.c - helpers of the MPI layer (sb_mpi.h): failure agreement,
 * node-local rank, device pick (the split: mpi_split.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sb_mpi.h"
#include "seqboat.h"

int sbmpi_agree(MPI_Comm comm, int ok, char *msg) {
    int me, bad, first;
    MPI_Comm_rank(comm, &me);
    bad = ok ? INT_MAX : me;
    MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX) return -1;
    char buf[SBMPI_MSG];
    memset(buf, 0, sizeof buf);
    if (me == first) snprintf(buf, sizeof buf, "%s", msg);
    MPI_Bcast(buf, SBMPI_MSG, MPI_CHAR, first, comm);
    buf[SBMPI_MSG - 1] = '\0';
    memcpy(msg, buf, SBMPI_MSG);
    return first;
}

int sbmpi_node_rank(MPI_Comm comm, int *local_rank, int *local_size) {
    MPI_Comm node;
    int me;
    MPI_Comm_rank(comm, &me);
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return -1;
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_size(node, local_size);
    MPI_Comm_free(&node);
    return 0;
}

int sbmpi_pick_device(int local_rank, char *sel, size_t cap, char *msg) {
    int n = 0;
    if (sb_devices(NULL, 0, &n) != SB_OK) {
        snprintf(msg, SBMPI_MSG, "%s", sb_last_error());
        return -1;
    }
    if (n == 0) {
        snprintf(msg, SBMPI_MSG, "no OpenCL device");
        return -1;
    }
    sb_device_desc *d = calloc((size_t)n, sizeof *d);
    if (d) d[0].struct_size = sizeof *d;
    if (!d || sb_devices(d, n, &n) != SB_OK) {
        snprintf(msg, SBMPI_MSG, "%s", d ? sb_last_error() : "out of host memory");
        free(d);
        return -1;
    }
    int gpus = 0;
    for (int i = 0; i < n; i++) gpus += !strcmp(d[i].type, "GPU");
    int want = local_rank % (gpus ? gpus : n), k = -1;
    for (int i = 0; i < n && k < 0; i++)
        if (!gpus || !strcmp(d[i].type, "GPU"))
            if (want-- == 0) k = d[i].index;
    free(d);
    snprintf(sel, cap, "%d", k);
    return 0;
}

int sbmpi_device_count(const char *sel) {
    int n = 1;
    for (const char *p = sel; p && *p; p++) n += *p == ',';
    return n;
}

void sbmpi_host(char *buf, size_t cap) {
    char name[MPI_MAX_PROCESSOR_NAME + 1];
    int len = 0;
    if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS) len = 0;
    name[len] = '\0';
    snprintf(buf, cap, "%s", len ? name : "?");
}
