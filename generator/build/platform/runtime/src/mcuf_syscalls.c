/* The newlib system calls a bare-metal program needs, so that printf, puts and malloc work.
 * stdout/stderr go to the host through semihosting (mcuf_port.c); there is no file system.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mcuf_port.h"

extern char __heap_start[];
extern char __heap_end[];

int _write(int fd, const char *data, int len)
{
    if (fd != 1 && fd != 2) {
        errno = EBADF;
        return -1;
    }
    mcuf_port_write(fd, data, (size_t)len);
    return len;
}

int _read(int fd, char *data, int len)
{
    (void)fd;
    (void)data;
    (void)len;
    return 0;
}

int _close(int fd)
{
    (void)fd;
    return -1;
}

int _lseek(int fd, int offset, int whence)
{
    (void)fd;
    (void)offset;
    (void)whence;
    return 0;
}

int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _isatty(int fd)
{
    return fd >= 0 && fd <= 2;
}

void *_sbrk(ptrdiff_t increment)
{
    static char *brk = __heap_start;
    if (increment > __heap_end - brk || increment < __heap_start - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *previous = brk;
    brk += increment;
    return previous;
}

int _getpid(void)
{
    return 1;
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = EINVAL;
    return -1;
}

__attribute__((noreturn)) void _exit(int code)
{
    mcuf_port_exit(code);
}
