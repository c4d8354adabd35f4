/* test_main.c: the one CUnit runner. Exit status is non-zero when any assertion failed. */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "testutil.h"

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite_rules();
	suite_graph();
	suite_decode();
	suite_tunnel();
	suite_flow();
	suite_classify();
	suite_infer();
	suite_e2e();
	suite_badinput();
	suite_zeek();
	suite_fanout();
	suite_capture();
	suite_clock();
	suite_nft();
	suite_app();
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
