/* fdio: whole writes to a file descriptor. */
#ifndef SP_FDIO_H
#define SP_FDIO_H

#include <stddef.h>

/* Writes all n bytes of p to fd, retrying after EINTR and short writes.
 * 0, or -errno (-EIO when write() returned 0). Any thread. */
int fdio_write_all(int fd, const void *p, size_t n);

#endif
