/* irq.h — how a device raises its interrupt without knowing the interrupt controller: the
 * backend supplies `set` (KVM_IRQ_LINE or an irqfd); tests supply a recorder. */
#ifndef PSCIVM_IRQ_H
#define PSCIVM_IRQ_H

#include <stdbool.h>

struct irq_line {
    /* Drive GIC SPI `spi` to `level`. Returns 0 or a negative errno. */
    int (*set)(void *opaque, unsigned int spi, bool level);
    void *opaque;
    unsigned int spi;
};

static inline int irq_line_set(const struct irq_line *line, bool level)
{
    return line->set ? line->set(line->opaque, line->spi, level) : 0;
}

#endif
