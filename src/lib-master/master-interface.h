/* The contract between the master and the service processes it starts:
   which fds a child inherits, which environment variables describe it, and
   the IPC messages on the master channel. Both sides include this file. */
#ifndef COLUMBA_MASTER_INTERFACE_H
#define COLUMBA_MASTER_INTERFACE_H

/* fds every service process starts with */
#define MASTER_CHANNEL_FD 3   /* ipc socket to the master */
#define MASTER_CONFIG_FD 4    /* memfd holding the effective config text */
#define MASTER_LISTEN_FD_FIRST 5 /* listeners, in COLUMBA_LISTENERS order */

/* Environment set by the master for a service process. */
#define MASTER_ENV_SERVICE "COLUMBA_SERVICE"       /* e.g. "imap-login" */
#define MASTER_ENV_LISTENERS "COLUMBA_LISTENERS"   /* "name:type:ssl ..." */
#define MASTER_ENV_GENERATION "COLUMBA_GENERATION" /* config generation */
#define MASTER_ENV_UID "COLUMBA_UID"               /* drop to this uid */
#define MASTER_ENV_GID "COLUMBA_GID"
#define MASTER_ENV_CHROOT "COLUMBA_CHROOT"         /* chroot here first */
#define MASTER_ENV_CLIENT_LIMIT "COLUMBA_CLIENT_LIMIT"

/* Messages on the master channel (ipc types). */
enum master_msg_type {
	/* child → master: initialised, privileges dropped, accepting.
	   payload: none */
	MASTER_MSG_READY = 1,
	/* child → master: number of clients now being served (u32) and
	   whether the process is full (bool). Sent when it changes. */
	MASTER_MSG_STATUS = 2,
	/* master → child: close listeners, finish current clients, exit when
	   none is left (reload: an old generation retires). payload: none */
	MASTER_MSG_STOP_ACCEPTING = 3,
	/* master → child: server shutting down: stop accepting, end sessions
	   politely (e.g. IMAP BYE), exit. payload: none */
	MASTER_MSG_SHUTDOWN = 4,
	/* child → master: this process has served service_count clients
	   and stopped accepting; it exits when its clients are gone. The
	   master starts a replacement now and treats the exit as expected.
	   payload: none */
	MASTER_MSG_DONE_ACCEPTING = 5,
};

#endif
