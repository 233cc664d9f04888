/* cli.h - the seqboat program: its commands and the option parsing they share.
 *
 * A command is a function `int cli_X(int argc, char **argv)` (argv[0] is the
 * command's name) listed in the table of main.c. Each command keeps its own
 * long-option table (struct option, getopt_long) and usage text in its own
 * file and parses with cli_next(); values go through the cli_parse_* functions
 * below, so every command refuses a bad option or value the same way:
 *   seqboat: <command>: <what is wrong>      (on stderr, exit status 2)
 * Exit status: 0 success, 1 the work failed, 2 a bad command line.
 *
 * Adding an option: an enum value, a row in the command's option table, a case
 * in its switch, a line in its usage text. Adding a command: a file with its
 * cli_X function, a declaration here, a row in main.c's table. */
#ifndef SB_CLI_H
#define SB_CLI_H
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include "seqboat.h"

/* Exit status of a bad command line. */
#define CLI_USAGE 2

int cli_devices(int argc, char **argv);
int cli_selftest(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_bench(int argc, char **argv);   /* cli_mpi.c: one process or MPI ranks */
int cli_peak(int argc, char **argv);
int cli_version(int argc, char **argv);
int cli_tune(int argc, char **argv);

/* ---- options: getopt_long, long options only (plus -h) ----------------------- */

/* Values cli_next returns besides an option's `val`. */
enum {
    CLI_END = -1,  /* no more options and no stray argument */
    CLI_BAD = -2,  /* a bad command line; the message is printed */
    CLI_HELP = 'h' /* -h or --help: give every table a {"help", no_argument, NULL, 'h'} row */
};

typedef struct cli_parser {
    const char *cmd;            /* command name, for messages */
    const struct option *opts;  /* the command's long options, ending with a zero row */
    int argc;
    char **argv;
    const char *arg;            /* value of the option just returned (NULL when none) */
    const char *name;           /* that option as "--name", for messages */
    char name_buf[64];
} cli_parser;

void cli_parser_init(cli_parser *p, const char *cmd, const struct option *opts, int argc,
                     char **argv);
/* The next option's `val`, CLI_HELP, CLI_END, or CLI_BAD after a message for:
 * an unknown option, an abbreviated one (names must be given in full), a
 * missing value, a value given to a flag, a stray argument, and a value that
 * starts with "--" given as its own word (`--prompt --stats`: the value is
 * missing; write `--prompt=--stats` to mean that text). */
int cli_next(cli_parser *p);

/* Print the usage text to stdout and return 0 (for --help). */
int cli_help(const char *usage);
/* After CLI_BAD, or for a command-line error of its own: point at --help and
 * return CLI_USAGE. */
int cli_usage_error(const char *cmd);
/* Print "seqboat: <cmd>: <message>" to stderr and return CLI_USAGE. */
int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- values: 0 on success, else -1 after a message naming opt and text ------- */

/* A whole number (decimal, optional sign) in [lo, hi]. */
int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);
int cli_parse_int(const char *cmd, const char *opt, const char *text, int lo, int hi, int *out);
/* --precision f32|f16|bf16 (sb_precision) and --weights precision|int8
 * (sb_weights): the storage of a model's weights (sb_options). */
int cli_parse_precision(const char *cmd, const char *opt, const char *text, int *out);
int cli_parse_weights(const char *cmd, const char *opt, const char *text, int *out);
/* "f16", "int8" ... for the stored weights of options o. */
const char *cli_weights_name(int precision, int weights);
/* A whole number in [0, 2^64 - 1] (no sign). */
int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out);
/* A finite number in [lo, hi], or in (lo, hi] when lo_open. */
int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, int lo_open,
                     double hi, double *out);
/* A comma-separated list of at least one whole number in [lo, hi], each with
 * an optional suffix k (x1024) or m (x1048576) when `suffixes`; at most cap
 * items. Returns the count, or -1 after a message. */
int cli_parse_int_list(const char *cmd, const char *opt, const char *text, int lo, int hi,
                       int suffixes, int *out, int cap);
/* A comma-separated list of numbers in [lo, hi]; the word `word` (may be NULL)
 * stands for word_value. Returns the count, or -1 after a message. */
int cli_parse_double_list(const char *cmd, const char *opt, const char *text, double lo, double hi,
                          const char *word, double word_value, double *out, int cap);
/* A comma-separated list of names, each exactly one of names[] (NULL-ended);
 * bit i of *mask is set for names[i]. */
int cli_parse_names(const char *cmd, const char *opt, const char *text, const char *const *names,
                    unsigned *mask);
/* Exactly one of names[] (NULL-ended); *index = its position. */
int cli_parse_choice(const char *cmd, const char *opt, const char *text, const char *const *names,
                     int *index);

/* ---- MPI ---------------------------------------------------------------------- */
/* cli_mpi.c: started by an MPI launcher (mpirun, srun)? The MPI layer is
 * cli/mpi_*.c (sb_mpi.h), built with -DSEQBOAT_MPI=ON|AUTO. */
int cli_mpi_launched(void); /* the job's size, 0 when not launched so */
int cli_mpi_built(void);
/* Use the MPI path: launched and built with MPI, or launched as several
 * processes (then an error explains that MPI is not built in). */
#define CLI_USE_MPI() (cli_mpi_launched() && (cli_mpi_built() || cli_mpi_launched() > 1))
int cli_run_mpi(const char *model, const char *in, const char *out, const char *device,
                long chunk_tokens, int stats, int precision, int weights);

/* `seqboat bench` as one rank of several (cli/mpi_bench.c fills this). */
struct sb_bench_report;
typedef struct cli_bench_ranks {
    int rank, size;             /* in the job */
    int local_rank, local_size; /* on this node: --device all is shared out by local rank */
    char host[256];
    const char *default_device; /* without --device: this rank's device (NULL: the library's) */
    /* Collective, called by every rank once its sweep is over (or failed):
     * rank 0's report receives every rank's devices and rows; returns the
     * job's exit status (the largest rc). Rank 0 then writes --json / --csv. */
    int (*gather)(const struct cli_bench_ranks *br, struct sb_bench_report *rep, int rc);
} cli_bench_ranks;
int cli_bench_ranked(int argc, char **argv, const cli_bench_ranks *br);
#endif
