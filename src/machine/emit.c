/* emit.c — the machine's events: each goes to the --events JSON-lines stream and, when a QMP
 * server listens, to its clients under the same lowercase name with the same fields. QMP-only
 * events (QEMU's STOP, RESUME, SHUTDOWN, RESET, POWERDOWN, SUSPEND, WAKEUP) go through
 * machine_emit_qmp. Callable from any thread. */
#include <json-c/json.h>

#include "machine/machine.h"
#include "qmp/server.h"

struct json_object *fields_new(void)
{
    return json_object_new_object();
}

void field_hex(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, events_hex(v));
}

void field_int(struct json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

void field_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

void field_bool(struct json_object *o, const char *k, bool v)
{
    json_object_object_add(o, k, json_object_new_boolean(v));
}

void machine_emit(struct machine *m, const char *name, int vcpu, struct json_object *fields)
{
    if (m->qmp) {
        struct json_object *data = json_object_new_object();
        if (vcpu >= 0)
            field_int(data, "vcpu", vcpu);
        if (fields) {
            json_object_object_foreach(fields, key, val) {
                struct json_object *copy = NULL;
                if (json_object_deep_copy(val, &copy, NULL) == 0)
                    json_object_object_add(data, key, copy);
            }
        }
        qmp_server_emit(m->qmp, name, data);
    }
    board_console_end_line(m);
    events_emit(&m->events, name, vcpu, fields);
}

void machine_emit_qmp(struct machine *m, const char *name, struct json_object *data)
{
    if (m->qmp)
        qmp_server_emit(m->qmp, name, data);
    else
        json_object_put(data);
}
