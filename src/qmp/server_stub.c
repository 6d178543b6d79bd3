/* TEMPORARY STUB (replaced by the qmp branch). */
#include <errno.h>
#include <stdio.h>
#include <json-c/json.h>
#include "qmp/server.h"
int qmp_server_init(struct qmp_server *s, const char *path, struct loop *loop,
                    const struct vm_control *ctl, char *err, size_t errlen)
{ (void)s; (void)path; (void)loop; (void)ctl; snprintf(err, errlen, "no QMP yet"); return -ENOSYS; }
void qmp_server_emit(struct qmp_server *s, const char *event, struct json_object *data)
{ (void)s; (void)event; json_object_put(data); }
bool qmp_server_flush_pending(struct qmp_server *s) { (void)s; return false; }
void qmp_server_release(struct qmp_server *s) { (void)s; }
