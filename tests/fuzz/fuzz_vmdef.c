/* fuzz_vmdef.c — libFuzzer target for the files of a `pscivm run --vm DIR` directory, which a
 * user may edit by hand (src/vmm/vmdef_json.c, vmdir.c): the input parsed as DIR/vm.json
 * (vmdef_parse) and as DIR/hibernation.json (vm_hibernation_parse). A refusal must carry a
 * message; an accepted definition must pass vmdef_invalid, serialize, parse back to a
 * definition with no difference from it (identities included), and serialize to the same
 * text again; an accepted record likewise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmdir.h"

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_vmdef: %s\n", what);
    abort();
}

static void definition(const char *text, size_t len)
{
    struct vmdef d, d2;
    char err[512];
    err[0] = '\0';
    int rc = vmdef_parse(text, len, &d, err, sizeof(err));
    if (rc) {
        if (!err[0])
            bad("definition refused without a message");
        vmdef_release(&d);
        return;
    }
    char why[200];
    if (*vmdef_invalid(&d, why, sizeof(why)))
        bad("an accepted definition is invalid");
    char *out = NULL, *out2 = NULL;
    if (vmdef_to_json(&d, "fuzz", &out))
        bad("an accepted definition does not serialize");
    if (vmdef_parse(out, strlen(out), &d2, err, sizeof(err)))
        bad("a serialized definition does not parse back");
    struct vmdef_diffs *l = malloc(sizeof(*l));
    if (!l)
        abort();
    vmdef_diffs_init(l);
    if (vmdef_diff(&d, &d2, true, l))
        bad("a definition changed through serialize + parse");
    free(l);
    if (vmdef_to_json(&d2, "fuzz", &out2) || strcmp(out, out2))
        bad("serializing twice differs");
    free(out);
    free(out2);
    vmdef_release(&d);
    vmdef_release(&d2);
}

static void record(const char *text, size_t len)
{
    struct vm_hibernation h, h2;
    char err[512];
    err[0] = '\0';
    if (vm_hibernation_parse(text, len, &h, err, sizeof(err))) {
        if (!err[0])
            bad("record refused without a message");
        vm_hibernation_release(&h);
        return;
    }
    char *out = NULL;
    if (vm_hibernation_to_json(&h, "fuzz", &out))
        bad("an accepted record does not serialize");
    if (vm_hibernation_parse(out, strlen(out), &h2, err, sizeof(err)))
        bad("a serialized record does not parse back");
    if (h2.time != h.time || h2.type_read != h.type_read || h2.type != h.type ||
        h2.mode != h.mode || strcmp(h2.host_kernel, h.host_kernel))
        bad("a record changed through serialize + parse");
    free(out);
    vm_hibernation_release(&h);
    vm_hibernation_release(&h2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size copy, so ASan sees a read past the end; the parsers take a length. */
    char *text = malloc(size ? size : 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    definition(text, size);
    record(text, size);
    free(text);
    return 0;
}
