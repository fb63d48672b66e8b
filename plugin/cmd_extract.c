#include "cli.h"
#include "isoformer/error.h"

int main_extract(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    iso_error(ISO_EINVAL, "not yet built");
    return cli_fail("extract");
}
