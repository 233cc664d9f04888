/* main.c - the seqboat command-line program: finds the command in the table
 * and hands it argv from the command's name on. A new command: a row here
 * (and its cli_X in cli.h and its own file). */
#include <stdio.h>
#include <string.h>
#include "cli.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* for `seqboat --help` */
} cli_command;

static const cli_command commands[] = {
    {"devices", cli_devices, "list OpenCL devices; marks the default and why"},
    {"run", cli_run, "run a model on an input file: --model M --input IN --output OUT"},
    {"inspect", cli_inspect, "print a model's config, tensors and parameter count"},
    {"generate", cli_generate, "stream bytes from a byte-level lm: --prompt TEXT"},
    {"selftest", cli_selftest, "GEMM and a kernel vs plain C on a device (--device all: each)"},
    {"bench", cli_bench, "timed forwards and decode over lengths, shares, methods"},
    {"peak", cli_peak, "measured device peaks: fp32 FMA rate, bandwidth, transfer, launch"},
    {"tune", cli_tune, "measure and store the GEMM parameters for a device: [--device D|all]"},
    {"version", cli_version, "print the library version"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: seqboat <command> [options]\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "`seqboat <command> --help` lists a command's options.\n"
            "environment: SEQBOAT_DEVICE (index or name), SEQBOAT_CACHE_DIR (folder or 'off'),\n"
            "             SEQBOAT_KERNEL_DIR (load cl/*.cl from a folder, for development)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) return cli_version(1, argv + 1);
    fprintf(stderr, "seqboat: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
