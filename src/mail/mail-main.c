/* The mail process: where post-login sessions and delivery will run. Today
   it takes part in the process model only (started as the mail user,
   supervised, stopped gracefully); it receives no connections yet. */
#include "lib.h"
#include "master-service.h"
#include "mail-main.h"

int mail_main(void)
{
	struct master_service *service = master_service_init("mail", NULL, NULL);
	master_service_init_finish(service);
	master_service_run(service);
	master_service_deinit(&service);
	return 0;
}
