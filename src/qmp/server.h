/* TEMPORARY STUB (replaced by the qmp branch). */
#ifndef PSCIVM_QMP_SERVER_H
#define PSCIVM_QMP_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include "machine/control.h"
#include "util/loop.h"
struct json_object;
struct qmp_server { int dummy; };
int qmp_server_init(struct qmp_server *s, const char *path, struct loop *loop,
                    const struct vm_control *ctl, char *err, size_t errlen);
void qmp_server_emit(struct qmp_server *s, const char *event, struct json_object *data);
bool qmp_server_flush_pending(struct qmp_server *s);
void qmp_server_release(struct qmp_server *s);
#endif
