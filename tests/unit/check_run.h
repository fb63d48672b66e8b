/* Runs a Check suite and turns its result into the process exit status ctest reads. */
#ifndef ISOFORMER_TESTS_CHECK_RUN_H
#define ISOFORMER_TESTS_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int iso_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
