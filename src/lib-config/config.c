/* The settings engine: applies the parsed tree over the definition tables
   (defaults, then the built-in sections, then the admin's files), checks
   every value, remembers where each came from, and answers lookups. */
#include "lib.h"
#include "hash.h"
#include "config-parser.h"
#include "config-private.h"

#define PTR_OFFSET(ptr, offset) ((void *)((char *)(ptr) + (offset)))
#define BUILTIN_SOURCE "<built-in>"
#define SUGGEST_MAX_DISTANCE 2

struct config_apply_ctx {
	struct config *cfg;
	struct hash_table *file_names;
	/* applying the built-in text: values are not explicit */
	bool builtin;
	const char *error;
};

static int ATTR_FORMAT(3, 4)
config_node_error(struct config_apply_ctx *ctx, const struct config_node *node,
		  const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	ctx->error = t_strdup_printf("%s:%u: %s", node->file, node->line,
				     p_strdup_vprintf(pool_datastack, fmt, args));
	va_end(args);
	return -1;
}

static const char *config_intern_file(struct config_apply_ctx *ctx,
				      const char *file)
{
	char *name = hash_table_lookup(ctx->file_names, file);

	if (name == NULL) {
		name = p_strdup(ctx->cfg->pool, file);
		hash_table_insert(ctx->file_names, name, name);
	}
	return name;
}

static void config_remember_secret(struct config *cfg,
				   const struct config_setting_def *def,
				   void *set)
{
	if ((def->flags & CONFIG_SETTING_FLAG_SECRET) == 0)
		return;
	char *value = *(char **)PTR_OFFSET(set, def->offset);
	if (value != NULL && *value != '\0')
		array_push(&cfg->secrets, value);
}

static void config_set_default(struct config *cfg,
			       const struct config_setting_def *def, void *set)
{
	const char *error;

	if (def->default_value == NULL) {
		switch (def->type) {
		case CONFIG_TYPE_STRING:
			*(const char **)PTR_OFFSET(set, def->offset) = "";
			return;
		case CONFIG_TYPE_LIST:
		case CONFIG_TYPE_ADDR_LIST:
		case CONFIG_TYPE_NET_LIST:
			*(const char *const **)PTR_OFFSET(set, def->offset) =
				p_new(cfg->pool, const char *, 1);
			return;
		case CONFIG_TYPE_ENUM:
			i_panic("config: enum %s has no default", def->key);
		default:
			/* zero: 0, no */
			return;
		}
	}
	if (config_setting_parse(def, set, cfg->pool, def->default_value,
				 &error) < 0)
		i_panic("config: bad default for %s: %s", def->key, error);
	config_remember_secret(cfg, def, set);
}

static struct config_instance *
config_instance_new(struct config *cfg, const struct config_section_def *def,
		    const struct config_setting_def *parent_def,
		    struct config_instance *parent, void *set)
{
	struct config_instance *inst = p_new(cfg->pool, struct config_instance, 1);

	inst->def = def;
	inst->parent_def = parent_def;
	inst->parent = parent;
	inst->set = set != NULL ? set : p_malloc(cfg->pool, def->struct_size);
	while (def->settings[inst->count].key != NULL)
		inst->count++;
	inst->origins = p_new(cfg->pool, struct config_origin, inst->count);
	inst->embedded = p_new(cfg->pool, struct config_instance *, inst->count);
	array_init(&inst->list, cfg->pool, 0);

	for (unsigned int i = 0; i < inst->count; i++) {
		const struct config_setting_def *d = &def->settings[i];
		void *field = PTR_OFFSET(inst->set, d->offset);

		switch (d->type) {
		case CONFIG_TYPE_GROUP:
		case CONFIG_TYPE_SECTION:
			inst->embedded[i] = config_instance_new(cfg, d->section,
								d, inst, field);
			break;
		case CONFIG_TYPE_SECTION_LIST:
			array_init((config_ptr_array_t *)field, cfg->pool, 0);
			break;
		default:
			config_set_default(cfg, d, inst->set);
			break;
		}
	}
	return inst;
}

/* Find a plain setting (sections=false) or a section keyword
   (sections=true) usable in inst, looking through groups. */
static bool config_find(struct config_instance *inst, const char *key,
			bool sections, struct config_instance **inst_r,
			unsigned int *idx_r)
{
	for (unsigned int i = 0; i < inst->count; i++) {
		const struct config_setting_def *d = &inst->def->settings[i];
		bool is_section = d->type == CONFIG_TYPE_SECTION ||
			d->type == CONFIG_TYPE_SECTION_LIST;

		if (d->type == CONFIG_TYPE_GROUP) {
			if (config_find(inst->embedded[i], key, sections,
					inst_r, idx_r))
				return true;
		} else if (is_section == sections && strcmp(d->key, key) == 0) {
			*inst_r = inst;
			*idx_r = i;
			return true;
		}
	}
	return false;
}

static void config_suggest(const struct config_section_def *def,
			   const char *key, bool sections,
			   const char **best_r, unsigned int *best_dist_r)
{
	for (const struct config_setting_def *d = def->settings;
	     d->key != NULL; d++) {
		bool is_section = d->type == CONFIG_TYPE_SECTION ||
			d->type == CONFIG_TYPE_SECTION_LIST;

		if (d->type == CONFIG_TYPE_GROUP) {
			config_suggest(d->section, key, sections, best_r,
				       best_dist_r);
			continue;
		}
		if (is_section != sections)
			continue;
		unsigned int dist = config_edit_distance(key, d->key,
							 SUGGEST_MAX_DISTANCE);
		if (dist < *best_dist_r) {
			*best_dist_r = dist;
			*best_r = d->key;
		}
	}
}

/* Where else key is valid: the name of the first section (depth first)
   whose table has it, "" for the top level; NULL if nowhere. */
static const char *
config_find_elsewhere(const struct config_section_def *def, bool is_root,
		      const char *key, bool sections)
{
	for (const struct config_setting_def *d = def->settings;
	     d->key != NULL; d++) {
		bool is_section = d->type == CONFIG_TYPE_SECTION ||
			d->type == CONFIG_TYPE_SECTION_LIST;

		if (d->type == CONFIG_TYPE_GROUP) {
			const char *where = config_find_elsewhere(
				d->section, is_root, key, sections);
			if (where != NULL)
				return where;
			continue;
		}
		if (is_section == sections && strcmp(d->key, key) == 0)
			return is_root ? "" : def->name;
	}
	for (const struct config_setting_def *d = def->settings;
	     d->key != NULL; d++) {
		if (d->type != CONFIG_TYPE_SECTION &&
		    d->type != CONFIG_TYPE_SECTION_LIST)
			continue;
		const char *where = config_find_elsewhere(d->section, false,
							  key, sections);
		if (where != NULL)
			return where;
	}
	return NULL;
}

static const char *config_place(const char *section_name)
{
	if (*section_name == '\0')
		return "at the top level";
	return t_strdup_printf("inside %s sections", section_name);
}

static int config_unknown(struct config_apply_ctx *ctx,
			  struct config_instance *inst,
			  const struct config_node *node, bool sections)
{
	const char *what = sections ? "Section" : "Setting";
	const char *key = str_sanitize(node->key, 80);
	const char *where = config_find_elsewhere(ctx->cfg->root_def, true,
						  node->key, sections);

	if (where != NULL) {
		const char *here = inst->parent == NULL ? "" : inst->def->name;
		return config_node_error(ctx, node,
			"%s %s is not valid %s (expected %s)", what, key,
			config_place(here), config_place(where));
	}

	const char *best = NULL;
	unsigned int best_dist = SUGGEST_MAX_DISTANCE + 1;
	config_suggest(inst->def, node->key, sections, &best, &best_dist);
	if (best != NULL) {
		return config_node_error(ctx, node,
			"Unknown %s: %s (did you mean %s?)",
			sections ? "section" : "setting", key, best);
	}
	return config_node_error(ctx, node, "Unknown %s: %s",
				 sections ? "section" : "setting", key);
}

static bool config_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_';
}

/* Words starting with '$' in an unquoted value: $ENV:NAME is the
   environment variable (empty when unset, as in Dovecot), $name the
   current value of the top-level setting name. The name ends at the first
   character that cannot be in one, so "$ENV:HOME/certs" works. */
static int config_expand(struct config_apply_ctx *ctx,
			 const struct config_node *node, const char **value_r)
{
	string_t *out = t_str_new(128);
	const char *p = node->value;

	while (*p != '\0') {
		bool word_start = p == node->value || p[-1] == ' ' ||
			p[-1] == '\t';
		if (*p != '$' || !word_start) {
			str_append_c(out, *p++);
			continue;
		}
		p++;
		bool env = str_begins(p, "ENV:");
		if (env)
			p += 4;
		const char *start = p;
		while (config_is_name_char(*p))
			p++;
		const char *name = t_strndup(start, (size_t)(p - start));
		if (env) {
			const char *value = getenv(name);
			str_append(out, value == NULL ? "" : value);
			continue;
		}
		if (*name == '\0') {
			str_append_c(out, '$');
			continue;
		}

		struct config_instance *owner;
		unsigned int idx;
		if (!config_find(ctx->cfg->root, name, false, &owner, &idx)) {
			return config_node_error(ctx, node,
				"Unknown variable $%s in the value of %s (expected $ENV:NAME or the name of a top-level setting)",
				str_sanitize(name, 80), node->key);
		}
		str_append(out, config_setting_format(&owner->def->settings[idx],
						      owner->set));
	}
	*value_r = str_c(out);
	return 0;
}

static int config_apply_keyvalue(struct config_apply_ctx *ctx,
				 struct config_instance *inst,
				 const struct config_node *node)
{
	struct config_instance *owner;
	unsigned int idx;
	const char *value = node->value, *error;

	if (!config_find(inst, node->key, false, &owner, &idx)) {
		if (config_find(inst, node->key, true, &owner, &idx)) {
			return config_node_error(ctx, node,
				"%s is a section, not a setting (expected %s NAME { ... })",
				node->key, node->key);
		}
		return config_unknown(ctx, inst, node, false);
	}
	const struct config_setting_def *def = &owner->def->settings[idx];
	if (node->expand && config_expand(ctx, node, &value) < 0)
		return -1;
	if (config_setting_parse(def, owner->set, ctx->cfg->pool, value,
				 &error) < 0)
		return config_node_error(ctx, node, "%s", error);
	config_remember_secret(ctx->cfg, def, owner->set);

	struct config_origin *origin = &owner->origins[idx];
	origin->file = config_intern_file(ctx, node->file);
	origin->line = node->line;
	origin->value_file = node->value_file == NULL ? NULL :
		p_strdup(ctx->cfg->pool, node->value_file);
	origin->explicit_set = !ctx->builtin;
	return 0;
}

static struct config_instance *
config_find_group(struct config_instance *inst,
		  const struct config_section_def *group_def)
{
	for (unsigned int i = 0; i < inst->count; i++) {
		if (inst->def->settings[i].type != CONFIG_TYPE_GROUP)
			continue;
		struct config_instance *group = inst->embedded[i];
		if (group->def == group_def)
			return group;
		group = config_find_group(group, group_def);
		if (group != NULL)
			return group;
	}
	return NULL;
}

/* A filter section starts from its parent's values for each group both
   have (a local_name's ssl_* start as the top-level ssl_*). */
static void config_inherit(struct config_instance *inst)
{
	for (unsigned int i = 0; i < inst->count; i++) {
		if (inst->def->settings[i].type != CONFIG_TYPE_GROUP)
			continue;
		struct config_instance *group = inst->embedded[i];
		struct config_instance *from =
			config_find_group(inst->parent, group->def);
		if (from != NULL) {
			memcpy(group->set, from->set, group->def->struct_size);
			group->inherited = true;
		}
	}
}

static bool config_name_is_known(const char *const *names, const char *name)
{
	for (unsigned int i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], name) == 0)
			return true;
	}
	return false;
}

static int config_unknown_name(struct config_apply_ctx *ctx,
			       const struct config_node *node,
			       const char *const *names)
{
	const char *best = NULL;
	unsigned int best_dist = SUGGEST_MAX_DISTANCE + 1;

	for (unsigned int i = 0; names[i] != NULL; i++) {
		unsigned int dist = config_edit_distance(node->value, names[i],
							 SUGGEST_MAX_DISTANCE);
		if (dist < best_dist) {
			best_dist = dist;
			best = names[i];
		}
	}
	return config_node_error(ctx, node,
		"Unknown %s name: %s (%s%s%sexpected one of: %s)",
		node->key, str_sanitize(node->value, 80),
		best == NULL ? "" : "did you mean ", best == NULL ? "" : best,
		best == NULL ? "" : "? ", t_strarray_join(names, ", "));
}

static int config_apply_sections(struct config_apply_ctx *ctx,
				 struct config_instance *inst,
				 const struct config_node *parent);

static int config_apply_settings(struct config_apply_ctx *ctx,
				 struct config_instance *inst,
				 const struct config_node *parent)
{
	struct config_node *const *child;

	array_foreach(&parent->children, child) {
		if ((*child)->type == CONFIG_NODE_KEYVALUE &&
		    config_apply_keyvalue(ctx, inst, *child) < 0)
			return -1;
	}
	return 0;
}

static struct config_instance *
config_list_find(struct config_instance *owner,
		 const struct config_setting_def *def, const char *name)
{
	struct config_instance *const *child;

	array_foreach(&owner->list, child) {
		if ((*child)->parent_def == def &&
		    (*child)->name != NULL &&
		    strcmp((*child)->name, name) == 0)
			return *child;
	}
	return NULL;
}

static int config_apply_section(struct config_apply_ctx *ctx,
				struct config_instance *inst,
				const struct config_node *node)
{
	struct config *cfg = ctx->cfg;
	struct config_instance *owner, *child;
	unsigned int idx;

	if (!config_find(inst, node->key, true, &owner, &idx)) {
		if (config_find(inst, node->key, false, &owner, &idx)) {
			return config_node_error(ctx, node,
				"%s is a setting, not a section (expected %s = VALUE)",
				node->key, node->key);
		}
		return config_unknown(ctx, inst, node, true);
	}
	const struct config_setting_def *def = &owner->def->settings[idx];
	if (def->type == CONFIG_TYPE_SECTION) {
		if (*node->value != '\0') {
			return config_node_error(ctx, node,
				"Section %s takes no name (expected %s { ... })",
				node->key, node->key);
		}
		child = owner->embedded[idx];
	} else {
		const struct config_section_def *sdef = def->section;

		bool unnamed = *node->value == '\0';

		if (unnamed && !sdef->ordered) {
			return config_node_error(ctx, node,
				"Section %s needs a name (expected %s NAME { ... })",
				node->key, node->key);
		}
		if (!unnamed && sdef->known_names != NULL &&
		    !config_name_is_known(sdef->known_names, node->value))
			return config_unknown_name(ctx, node, sdef->known_names);
		child = unnamed ? NULL :
			config_list_find(owner, def, node->value);
		if (child == NULL) {
			child = config_instance_new(cfg, sdef, def, owner, NULL);
			child->name = unnamed ? NULL :
				p_strdup(cfg->pool, node->value);
			child->list_index = array_count(&owner->list);
			child->builtin_created = ctx->builtin;
			*(const char **)PTR_OFFSET(child->set, sdef->name_offset) =
				child->name != NULL ? child->name : "";
			if (sdef->inherit)
				config_inherit(child);
			array_push(&owner->list, child);
			config_ptr_array_t *arr =
				PTR_OFFSET(owner->set, def->offset);
			array_push(arr, child->set);
		}
	}
	if (child->decl_file == NULL || !ctx->builtin) {
		child->decl_file = config_intern_file(ctx, node->file);
		child->decl_line = node->line;
	}
	if (config_apply_settings(ctx, child, node) < 0 ||
	    config_apply_sections(ctx, child, node) < 0)
		return -1;
	return 0;
}

static int config_apply_sections(struct config_apply_ctx *ctx,
				 struct config_instance *inst,
				 const struct config_node *parent)
{
	struct config_node *const *child;

	array_foreach(&parent->children, child) {
		if ((*child)->type == CONFIG_NODE_SECTION &&
		    config_apply_section(ctx, inst, *child) < 0)
			return -1;
	}
	return 0;
}

/* The origin of key in inst or its groups, or NULL. */
static const struct config_origin *
config_origin_find(struct config_instance *inst, const char *key)
{
	struct config_instance *owner;
	unsigned int idx;

	if (key == NULL || !config_find(inst, key, false, &owner, &idx))
		return NULL;
	return &owner->origins[idx];
}

static int config_check(struct config_apply_ctx *ctx,
			struct config_instance *inst)
{
	struct config_instance *const *child;
	const char *key = NULL, *error;

	for (unsigned int i = 0; i < inst->count; i++) {
		if (inst->embedded[i] != NULL &&
		    config_check(ctx, inst->embedded[i]) < 0)
			return -1;
	}
	array_foreach(&inst->list, child) {
		if (config_check(ctx, *child) < 0)
			return -1;
	}
	if (inst->def->check == NULL ||
	    inst->def->check(inst->set, ctx->cfg->pool, &key, &error) == 0)
		return 0;

	/* blame the setting, else the section, else the whole file */
	const struct config_origin *origin = config_origin_find(inst, key);
	const struct config_instance *decl = inst;
	while (decl != NULL && decl->decl_file == NULL)
		decl = decl->parent;
	if (origin != NULL && origin->file != NULL) {
		ctx->error = t_strdup_printf("%s:%u: %s", origin->file,
					     origin->line, error);
	} else if (decl != NULL) {
		ctx->error = t_strdup_printf("%s:%u: %s", decl->decl_file,
					     decl->decl_line, error);
	} else {
		ctx->error = t_strdup_printf("%s: %s", ctx->cfg->path, error);
	}
	return -1;
}

static struct config *
config_parse(const char *path, const char *text,
	     const struct config_parse_settings *set, const char **error_r)
{
	static const struct config_parse_settings default_set;
	struct config_node *builtin_tree = NULL, *tree;
	const char *builtin_text;
	int ret;

	if (set == NULL)
		set = &default_set;
	struct config_parser_settings parser_set = {
		.max_include_depth = set->max_include_depth,
		.no_file_access = set->no_file_access,
	};
	struct config_parser_settings builtin_parser_set = {
		.no_file_access = true,
	};
	struct config *cfg = i_new(struct config, 1);
	cfg->pool = pool_alloconly_create("config", 16384);
	cfg->root_def = set->root_def != NULL ? set->root_def :
		&columba_settings_root_def;
	builtin_text = set->root_def != NULL ? set->builtin_config :
		columba_settings_builtin_config;
	cfg->path = p_strdup(cfg->pool, path);
	array_init(&cfg->secrets, cfg->pool, 8);

	pool_t tree_pool = pool_alloconly_create("config tree", 16384);
	if (builtin_text != NULL &&
	    config_parser_parse_string(tree_pool, builtin_text, BUILTIN_SOURCE,
				       NULL, &builtin_parser_set,
				       &builtin_tree, error_r) < 0)
		i_panic("config: bad built-in configuration: %s", *error_r);
	if (text != NULL) {
		ret = config_parser_parse_string(tree_pool, text, path, NULL,
						 &parser_set, &tree, error_r);
	} else {
		ret = config_parser_parse_file(tree_pool, path, &parser_set,
					       &tree, error_r);
	}
	if (ret < 0) {
		pool_unref(&tree_pool);
		config_free(&cfg);
		return NULL;
	}

	struct config_apply_ctx ctx = {
		.cfg = cfg,
		.file_names = hash_table_create_str(system_pool, 16),
	};
	cfg->root = config_instance_new(cfg, cfg->root_def, NULL, NULL, NULL);
	/* Every top-level setting before any section, so sections (built-in
	   ones included) see the final top-level values of $name and
	   local_name sections inherit the final ssl_* values. */
	ctx.builtin = true;
	ret = builtin_tree == NULL ? 0 :
		config_apply_settings(&ctx, cfg->root, builtin_tree);
	ctx.builtin = false;
	if (ret == 0)
		ret = config_apply_settings(&ctx, cfg->root, tree);
	ctx.builtin = true;
	if (ret == 0 && builtin_tree != NULL)
		ret = config_apply_sections(&ctx, cfg->root, builtin_tree);
	ctx.builtin = false;
	if (ret == 0)
		ret = config_apply_sections(&ctx, cfg->root, tree);
	if (ret == 0)
		ret = config_check(&ctx, cfg->root);

	hash_table_destroy(&ctx.file_names);
	config_parser_wipe(tree);
	if (builtin_tree != NULL)
		config_parser_wipe(builtin_tree);
	pool_unref(&tree_pool);
	if (ret < 0) {
		*error_r = ctx.error;
		config_free(&cfg);
		return NULL;
	}
	return cfg;
}

/* Parse inside a data stack frame, keeping the error string past it. */
static struct config *
config_parse_frame(const char *path, const char *text,
		   const struct config_parse_settings *set,
		   const char **error_r)
{
	struct config *cfg;
	char *error = NULL;

	T_BEGIN {
		const char *frame_error;
		cfg = config_parse(path, text, set, &frame_error);
		if (cfg == NULL)
			error = i_strdup(frame_error);
	} T_END;
	if (cfg == NULL) {
		*error_r = t_strdup(error);
		free(error);
	}
	return cfg;
}

struct config *config_parse_file(const char *path,
				 const struct config_parse_settings *set,
				 const char **error_r)
{
	return config_parse_frame(path, NULL, set, error_r);
}

struct config *config_parse_string(const char *text, const char *source_name,
				   const struct config_parse_settings *set,
				   const char **error_r)
{
	return config_parse_frame(source_name != NULL ? source_name :
				  "<string>", text, set, error_r);
}

void config_free(struct config **_cfg)
{
	struct config *cfg = *_cfg;
	char *const *secret;

	*_cfg = NULL;
	if (cfg == NULL)
		return;
	array_foreach(&cfg->secrets, secret)
		safe_memset(*secret, 0, strlen(*secret));
	pool_unref(&cfg->pool);
	free(cfg);
}

const struct columba_settings *config_get_root(const struct config *cfg)
{
	i_assert(cfg->root_def == &columba_settings_root_def);
	return cfg->root->set;
}

const void *config_get_root_raw(const struct config *cfg)
{
	return cfg->root->set;
}

const char *config_get_path(const struct config *cfg)
{
	return cfg->path;
}

/* --- lookup --- */

const char *config_lookup(const struct config *cfg, const char *path)
{
	struct config_instance *inst = cfg->root, *owner;
	unsigned int idx;

	for (;;) {
		const char *slash = strchr(path, '/');
		const char *first = slash == NULL ? path :
			t_strndup(path, (size_t)(slash - path));

		if (slash == NULL) {
			if (!config_find(inst, first, false, &owner, &idx))
				return NULL;
			/* a copy: the caller may keep it past config_free() */
			return t_strdup(config_setting_format(
				&owner->def->settings[idx], owner->set));
		}
		if (!config_find(inst, first, true, &owner, &idx))
			return NULL;
		const struct config_setting_def *def = &owner->def->settings[idx];
		const char *rest = slash + 1;
		if (def->type == CONFIG_TYPE_SECTION) {
			inst = owner->embedded[idx];
			path = rest;
			continue;
		}
		/* names may contain '/': take the longest that fits */
		struct config_instance *const *child, *best = NULL;
		size_t best_len = 0;
		array_foreach(&owner->list, child) {
			if ((*child)->name == NULL)
				continue;
			size_t len = strlen((*child)->name);
			if ((*child)->parent_def == def &&
			    strncmp(rest, (*child)->name, len) == 0 &&
			    rest[len] == '/' && len >= best_len) {
				best = *child;
				best_len = len;
			}
		}
		if (best == NULL)
			return NULL;
		inst = best;
		path = rest + best_len + 1;
	}
}
