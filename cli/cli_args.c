/* cli_args.c - option parsing shared by every command (see cli.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "seqboat: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE;
}

int cli_help(const char *usage) {
    fputs(usage, stdout);
    return 0;
}

int cli_usage_error(const char *cmd) {
    fprintf(stderr, "Try 'seqboat %s --help'.\n", cmd);
    return CLI_USAGE;
}

void cli_parser_init(cli_parser *p, const char *cmd, const struct option *opts, int argc,
                     char **argv) {
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->opts = opts;
    p->argc = argc;
    p->argv = argv;
    optind = 0; /* glibc: start over (and read the "+" of the short options again) */
    opterr = 0; /* our messages, not getopt's */
}

/* "--name" of an argv word "--name=value" into p->name_buf. */
static const char *word_name(cli_parser *p, const char *word) {
    size_t n = strcspn(word, "=");
    if (n >= sizeof p->name_buf) n = sizeof p->name_buf - 1;
    memcpy(p->name_buf, word, n);
    p->name_buf[n] = '\0';
    return p->name_buf;
}

int cli_next(cli_parser *p) {
    int idx = -1;
    int at = optind > 0 ? optind : 1; /* "+": no reordering, the next option is argv[at] */
    /* "+": stop at the first non-option (a stray argument, refused below);
     * ":": tell a missing value (':') from an unknown option ('?'); "h": -h. */
    int c = getopt_long(p->argc, p->argv, "+:h", p->opts, &idx);
    const char *word = at < p->argc ? p->argv[at] : "";
    p->arg = optarg;
    p->name = NULL;
    if (c == -1) {
        if (optind < p->argc) {
            fprintf(stderr, "seqboat: %s: unexpected argument '%s'\n", p->cmd, p->argv[optind]);
            return CLI_BAD;
        }
        return CLI_END;
    }
    if (c == '?') {
        if (optopt && !(word[0] == '-' && word[1] == '-'))
            fprintf(stderr, "seqboat: %s: unknown option '-%c'\n", p->cmd, optopt);
        else if (optopt) /* a known option given a value it does not take: --stats=1 */
            fprintf(stderr, "seqboat: %s: option '%s' takes no value\n", p->cmd, word_name(p, word));
        else
            fprintf(stderr, "seqboat: %s: unknown option '%s'\n", p->cmd, word_name(p, word));
        return CLI_BAD;
    }
    if (c == ':') {
        fprintf(stderr, "seqboat: %s: option '%s' needs a value\n", p->cmd, word_name(p, word));
        return CLI_BAD;
    }
    if (idx >= 0) {
        p->name = word_name(p, word);
        /* getopt_long takes unambiguous abbreviations; we want the whole name, so
         * that a new option never changes what an old command line means. */
        if (strncmp(p->name, "--", 2) || strcmp(p->name + 2, p->opts[idx].name)) {
            fprintf(stderr, "seqboat: %s: unknown option '%s' (did you mean '--%s'?)\n", p->cmd,
                    p->name, p->opts[idx].name);
            return CLI_BAD;
        }
        if (p->opts[idx].has_arg == required_argument && at + 1 < p->argc && optarg == p->argv[at + 1] &&
            !strncmp(optarg, "--", 2)) {
            fprintf(stderr, "seqboat: %s: option '%s' is missing its value (next is '%s'; "
                            "write %s=%s to pass that text)\n",
                    p->cmd, p->name, optarg, p->name, optarg);
            return CLI_BAD;
        }
    } else {
        p->name = c == 'h' ? "-h" : "";
    }
    return c;
}

/* ---- values ------------------------------------------------------------------- */

int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi,
                   long *out) {
    char *end = (char *)text;
    long v = 0;
    errno = 0;
    if (*text == '-' || *text == '+' || (*text >= '0' && *text <= '9')) v = strtol(text, &end, 10);
    if (end == text || *end) {
        cli_fail(cmd, "%s: '%s' is not a whole number", opt, text);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        cli_fail(cmd, "%s: %s is out of range (%ld to %ld)", opt, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *text, int lo, int hi, int *out) {
    long v;
    if (cli_parse_long(cmd, opt, text, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_precision(const char *cmd, const char *opt, const char *text, int *out) {
    static const char *const names[] = {"f32", "f16", "bf16"};
    for (int i = 0; i < 3; i++)
        if (strcmp(text, names[i]) == 0) return *out = i, 0;
    cli_fail(cmd, "%s: '%s' is not f32, f16 or bf16", opt, text);
    return -1;
}

int cli_parse_weights(const char *cmd, const char *opt, const char *text, int *out) {
    if (strcmp(text, "precision") == 0) return *out = SB_WEIGHTS_PRECISION, 0;
    if (strcmp(text, "int8") == 0) return *out = SB_WEIGHTS_INT8, 0;
    cli_fail(cmd, "%s: '%s' is not int8 or precision (as --precision)", opt, text);
    return -1;
}

const char *cli_weights_name(int precision, int weights) {
    if (weights == SB_WEIGHTS_INT8) return "int8";
    return precision == SB_PREC_F16 ? "f16" : precision == SB_PREC_BF16 ? "bf16" : "f32";
}

int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out) {
    char *end;
    if (!(*text >= '0' && *text <= '9')) {
        cli_fail(cmd, "%s: '%s' is not a whole number >= 0", opt, text);
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end) {
        cli_fail(cmd, "%s: '%s' is not a whole number >= 0", opt, text);
        return -1;
    }
    if (errno == ERANGE || (unsigned long long)(uint64_t)v != v) {
        cli_fail(cmd, "%s: %s is out of range (0 to %llu)", opt, text,
                 (unsigned long long)UINT64_MAX);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* A finite number at text, up to *end; 0 when it is one. */
static int scan_double(const char *text, double *v, char **end) {
    /* strtod also reads "nan", "inf", hex and leading blanks: keep to decimals */
    const char *p = text;
    if (*p == '-' || *p == '+') p++;
    if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9'))) return -1;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return -1;
    *v = strtod(text, end);
    return *end == text || !isfinite(*v) ? -1 : 0;
}

static int check_range(const char *cmd, const char *opt, const char *text, double v, double lo,
                       int lo_open, double hi) {
    if (lo_open ? v > lo && v <= hi : v >= lo && v <= hi) return 0;
    if (isinf(hi))
        cli_fail(cmd, "%s: %s is out of range (must be %s %g)", opt, text, lo_open ? ">" : ">=", lo);
    else
        cli_fail(cmd, "%s: %s is out of range (must be %s %g and <= %g)", opt, text,
                 lo_open ? ">" : ">=", lo, hi);
    return -1;
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, int lo_open,
                     double hi, double *out) {
    double v;
    char *end;
    if (scan_double(text, &v, &end) || *end) {
        cli_fail(cmd, "%s: '%s' is not a number", opt, text);
        return -1;
    }
    if (check_range(cmd, opt, text, v, lo, lo_open, hi)) return -1;
    *out = v;
    return 0;
}

/* The item of a comma list starting at s, for messages. */
static const char *item(const char *s, char *buf, size_t cap) {
    size_t n = strcspn(s, ",");
    if (n >= cap) n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

int cli_parse_int_list(const char *cmd, const char *opt, const char *text, int lo, int hi,
                       int suffixes, int *out, int cap) {
    int n = 0;
    const char *s = text;
    char buf[64];
    for (;;) {
        char *end;
        if (n == cap) {
            cli_fail(cmd, "%s: '%s' has more than %d items", opt, text, cap);
            return -1;
        }
        if (!(*s >= '0' && *s <= '9') && *s != '-' && *s != '+') {
            cli_fail(cmd, "%s: '%s' in '%s' is not a whole number", opt, item(s, buf, sizeof buf), text);
            return -1;
        }
        errno = 0;
        long long v = strtoll(s, &end, 10);
        int bad = end == s || errno == ERANGE;
        if (!bad && suffixes && (*end == 'k' || *end == 'K')) {
            v = v > LLONG_MAX / 1024 || v < LLONG_MIN / 1024 ? LLONG_MAX : v * 1024;
            end++;
        } else if (!bad && suffixes && (*end == 'm' || *end == 'M')) {
            v = v > LLONG_MAX / 1048576 || v < LLONG_MIN / 1048576 ? LLONG_MAX : v * 1048576;
            end++;
        }
        if (bad || (*end && *end != ',')) {
            cli_fail(cmd, "%s: '%s' in '%s' is not a whole number", opt, item(s, buf, sizeof buf), text);
            return -1;
        }
        if (v < lo || v > hi) {
            cli_fail(cmd, "%s: %s is out of range (%d to %d)", opt, item(s, buf, sizeof buf), lo, hi);
            return -1;
        }
        out[n++] = (int)v;
        if (!*end) return n;
        s = end + 1;
    }
}

int cli_parse_double_list(const char *cmd, const char *opt, const char *text, double lo, double hi,
                          const char *word, double word_value, double *out, int cap) {
    int n = 0;
    const char *s = text;
    char buf[64];
    for (;;) {
        char *end;
        double v;
        if (n == cap) {
            cli_fail(cmd, "%s: '%s' has more than %d items", opt, text, cap);
            return -1;
        }
        size_t wl = word ? strlen(word) : 0;
        if (word && !strncmp(s, word, wl) && (s[wl] == ',' || !s[wl])) {
            v = word_value;
            end = (char *)s + wl;
        } else {
            if (scan_double(s, &v, &end) || (*end && *end != ',')) {
                cli_fail(cmd, "%s: '%s' in '%s' is not a number%s%s", opt, item(s, buf, sizeof buf),
                         text, word ? " or " : "", word ? word : "");
                return -1;
            }
            if (check_range(cmd, opt, item(s, buf, sizeof buf), v, lo, 0, hi)) return -1;
        }
        out[n++] = v;
        if (!*end) return n;
        s = end + 1;
    }
}

static void list_names(const char *const *names, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", names[i]);
}

static int find_name(const char *s, size_t len, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == len && !strncmp(s, names[i], len)) return i;
    return -1;
}

int cli_parse_names(const char *cmd, const char *opt, const char *text, const char *const *names,
                    unsigned *mask) {
    char all[256], buf[64];
    const char *s = text;
    *mask = 0;
    for (;;) {
        size_t len = strcspn(s, ",");
        int i = find_name(s, len, names);
        if (i < 0) {
            list_names(names, all, sizeof all);
            cli_fail(cmd, "%s: '%s' is not one of %s", opt, item(s, buf, sizeof buf), all);
            return -1;
        }
        *mask |= 1u << i;
        if (!s[len]) return 0;
        s += len + 1;
    }
}

int cli_parse_choice(const char *cmd, const char *opt, const char *text, const char *const *names,
                     int *index) {
    char all[256];
    int i = find_name(text, strlen(text), names);
    if (i < 0) {
        list_names(names, all, sizeof all);
        cli_fail(cmd, "%s: '%s' is not one of %s", opt, text, all);
        return -1;
    }
    *index = i;
    return 0;
}
