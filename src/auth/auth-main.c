/* The auth process. Today it takes part in the process model only (it is
   started, drops to its user, reports ready and stops when told); the
   passdb/userdb lookups and SASL mechanisms it will serve come with the
   authentication work. */
#include "lib.h"
#include "master-service.h"
#include "auth-main.h"

int auth_main(void)
{
	struct master_service *service = master_service_init("auth", NULL, NULL);
	master_service_init_finish(service);
	master_service_run(service);
	master_service_deinit(&service);
	return 0;
}
