/* cmd_ctl.c — `pscivm ctl`: talk to a running pscivm's QMP socket (run --qmp PATH). A thin
 * printing wrapper: the command line, the protocol and the argument syntax are in
 * src/qmp/client.c (portable and unit-tested). */
#include <stdio.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qmp/client.h"
#include "qmp/commands.h"
#include "vmm/commands.h"
#include "vmm/exit_status.h"

static const char ctl_synopsis[] =
    "usage: pscivm ctl PATH COMMAND [ARGS...]\n"
    "       pscivm ctl PATH events\n"
    "       pscivm ctl PATH --raw\n"
    "       pscivm ctl --help\n";

static const char ctl_usage[] =
    "\n"
    "Talks to the QMP socket of a pscivm started with 'run --qmp PATH' (QEMU's QMP sockets\n"
    "work too). Connects, reads the greeting and negotiates (qmp_capabilities), then:\n"
    "\n"
    "  COMMAND [ARGS]  executes COMMAND and prints its \"return\" value as one line of JSON on\n"
    "                  stdout (exit 0), or the error's description on stderr (exit 1).\n"
    "                  ARGS are KEY=VALUE pairs; VALUE is taken as JSON when it is JSON (2,\n"
    "                  true, null, '\"2\"', '{\"a\": 1}'), else as a string. For cpu-plug and\n"
    "                  cpu-unplug a bare number is the vCPU id: 'cpu-plug 2' = 'cpu-plug id=2'.\n"
    "  events          prints every event as one line of JSON until the socket closes (the\n"
    "                  VM ended; exit 0).\n"
    "  --raw           a QMP shell: does not negotiate; relays JSON from stdin to the socket\n"
    "                  as typed and prints the greeting, every reply and every event, one\n"
    "                  line each, until stdin ends and then the socket closes.\n"
    "\n"
    "Exit status: 0 success, 1 error reply or cannot connect (the message names PATH),\n"
    "2 bad command line.\n"
    "\n"
    "Examples:\n"
    "  pscivm ctl /tmp/vm.qmp query-status\n"
    "  pscivm ctl /tmp/vm.qmp cpu-plug 2\n"
    "  pscivm ctl /tmp/vm.qmp events\n"
    "  echo '{\"execute\": \"qmp_capabilities\"} {\"execute\": \"query-psci\"}' |\n"
    "      pscivm ctl /tmp/vm.qmp --raw\n"
    "\n"
    "Commands (docs/run.md, \"Control socket (QMP)\"):\n";

static void print_usage(FILE *f)
{
    fputs(ctl_synopsis, f);
    fputs(ctl_usage, f);
    for (const struct qmp_command *c = qmp_commands; c->name; c++)
        fprintf(f, "  %-17s %s\n", c->name, c->help);
}

static void print_json(struct json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
    fflush(stdout);
}

static void print_message(void *opaque, struct json_object *msg)
{
    (void)opaque;
    print_json(msg);
}

static int run_events(struct qmp_client *c)
{
    char err[256];
    for (;;) {
        struct json_object *msg;
        if (qmp_client_read(c, -1, &msg, err, sizeof(err)) < 0) {
            fprintf(stderr, "pscivm ctl: %s\n", err);
            return PSCIVM_EXIT_ERROR;
        }
        if (!msg)
            return 0; /* the VM ended */
        if (json_object_object_get_ex(msg, "event", NULL))
            print_json(msg);
        json_object_put(msg);
    }
}

static int run(struct qmp_ctl_options *o)
{
    struct qmp_client c;
    char err[256];
    if (qmp_client_init(&c, o->path, err, sizeof(err)) < 0) {
        fprintf(stderr, "pscivm ctl: %s\n", err);
        return PSCIVM_EXIT_ERROR;
    }
    int status = 0;
    if (o->mode == QMP_CTL_RAW) {
        if (qmp_client_shell(&c, STDIN_FILENO, print_message, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "pscivm ctl: %s\n", err);
            status = PSCIVM_EXIT_ERROR;
        }
    } else if (qmp_client_negotiate(&c, err, sizeof(err)) < 0) {
        fprintf(stderr, "pscivm ctl: %s: %s\n", o->path, err);
        status = PSCIVM_EXIT_ERROR;
    } else if (o->mode == QMP_CTL_EVENTS) {
        status = run_events(&c);
    } else {
        struct json_object *ret;
        struct json_object *args = o->args;
        o->args = NULL; /* qmp_client_execute takes it */
        if (qmp_client_execute(&c, o->command, args, &ret, err, sizeof(err)) < 0) {
            fprintf(stderr, "pscivm ctl: %s\n", err);
            status = PSCIVM_EXIT_ERROR;
        } else {
            print_json(ret);
            json_object_put(ret);
        }
    }
    qmp_client_release(&c);
    return status;
}

int cmd_ctl(int argc, char **argv)
{
    struct qmp_ctl_options o;
    char err[256];
    if (qmp_ctl_options_parse(&o, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "pscivm ctl: %s\n\n%sSee 'pscivm ctl --help'.\n", err, ctl_synopsis);
        qmp_ctl_options_release(&o);
        return PSCIVM_EXIT_USAGE;
    }
    int status = 0;
    if (o.mode == QMP_CTL_HELP)
        print_usage(stdout);
    else
        status = run(&o);
    qmp_ctl_options_release(&o);
    return status;
}
