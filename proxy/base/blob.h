/* blob: a growable byte buffer with an atomic reference count, so one copy
 * of a body can be shared by the worker (curl, MHD response) and the
 * comparer thread. It may grow only while it has a single owner. */
#ifndef SP_BLOB_H
#define SP_BLOB_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct blob {
    atomic_int refs;
    size_t len, cap;
    unsigned char data[];
} blob;

/* Appends; *bp may move. Creates the blob when *bp is NULL. 0 or -ENOMEM. */
int blob_append(blob **bp, const void *data, size_t len);
blob *blob_ref(blob *b); /* NULL-safe */
void blob_unref(blob *b); /* NULL-safe */

#endif
