/* tap_main.c -- shared main() of the Check test programs: runs the file's
 * suite and writes TAP to stdout, so meson (protocol 'tap') lists every test
 * case by name.  Each test file defines make_suite(). */
#include <check.h>
#include <stdlib.h>

Suite *make_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(make_suite());
    /* "-" is Check's name for stdout. */
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
