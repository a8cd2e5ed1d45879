/* Internal to lib-config: the engine's view of a parsed configuration,
   shared by config.c (parse, apply, check, lookup) and config-dump.c. */
#ifndef COLUMBA_CONFIG_PRIVATE_H
#define COLUMBA_CONFIG_PRIVATE_H

#include "config.h"

struct config_origin {
	/* NULL for a default */
	const char *file;
	unsigned int line;
	/* `key = <path`: the path */
	const char *value_file;
	/* assigned by the admin's files (not a default or a built-in) */
	bool explicit_set;
};

/* One struct of settings: the root, a group, a section, or one element of
   a section list. */
struct config_instance {
	const struct config_section_def *def;
	/* the entry of the parent's table that holds this; NULL for root */
	const struct config_setting_def *parent_def;
	struct config_instance *parent;
	/* SECTION_LIST elements: NAME */
	const char *name;
	void *set;
	unsigned int count;
	/* [count], by index in def->settings */
	struct config_origin *origins;
	/* [count]: GROUP and SECTION children */
	struct config_instance **embedded;
	/* SECTION_LIST children of every list of this struct, in order of
	   creation */
	ARRAY(struct config_instance *) list;
	const char *decl_file;
	unsigned int decl_line;
	bool builtin_created;
	/* SECTION_LIST elements: position in the parent's list */
	unsigned int list_index;
	/* a group that started as a copy of the parent's: dumps show only
	   what differs from it */
	bool inherited;
};

struct config {
	pool_t pool;
	const struct config_section_def *root_def;
	const char *path;
	struct config_instance *root;
	/* every secret string ever stored, overwritten by config_free() */
	ARRAY(char *) secrets;
};

#endif
