/* config_dump(): the effective configuration written back in the syntax it
   was read in, sorted and canonical, quoted wherever the scanner would
   otherwise read something else, so that the text parses back the same. */
#include "lib.h"
#include "columba-config.h"
#include "config-private.h"

struct config_dump_setting {
	const char *key;
	struct config_instance *inst;
	unsigned int idx;
};
typedef ARRAY(struct config_dump_setting) config_dump_settings_t;
typedef ARRAY(struct config_instance *) config_instance_array_t;

static void config_collect_settings(struct config_instance *inst,
				    config_dump_settings_t *items)
{
	for (unsigned int i = 0; i < inst->count; i++) {
		const struct config_setting_def *d = &inst->def->settings[i];

		if (d->type == CONFIG_TYPE_GROUP) {
			config_collect_settings(inst->embedded[i], items);
		} else if (d->type != CONFIG_TYPE_SECTION &&
			   d->type != CONFIG_TYPE_SECTION_LIST) {
			struct config_dump_setting *item =
				array_append_space(items);
			item->key = d->key;
			item->inst = inst;
			item->idx = i;
		}
	}
}

static void config_collect_sections(struct config_instance *inst,
				    config_instance_array_t *sections)
{
	struct config_instance *const *child;

	for (unsigned int i = 0; i < inst->count; i++) {
		const struct config_setting_def *d = &inst->def->settings[i];

		if (d->type == CONFIG_TYPE_GROUP)
			config_collect_sections(inst->embedded[i], sections);
		else if (d->type == CONFIG_TYPE_SECTION)
			array_push(sections, inst->embedded[i]);
	}
	array_foreach(&inst->list, child)
		array_push(sections, *child);
}

static int config_dump_setting_cmp(const void *p1, const void *p2)
{
	const struct config_dump_setting *a = p1, *b = p2;
	return strcmp(a->key, b->key);
}

static int config_instance_cmp(const void *p1, const void *p2)
{
	const struct config_instance *a = *(struct config_instance *const *)p1;
	const struct config_instance *b = *(struct config_instance *const *)p2;
	int ret = strcmp(a->parent_def->key, b->parent_def->key);

	if (ret != 0)
		return ret;
	/* passdb and userdb are tried in the order they were written */
	if (a->def->ordered)
		return a->list_index < b->list_index ? -1 :
			a->list_index > b->list_index;
	return strcmp(a->name == NULL ? "" : a->name,
		      b->name == NULL ? "" : b->name);
}

/* Did the admin's files set anything in inst or below? */
static bool config_has_explicit(struct config_instance *inst)
{
	struct config_instance *const *child;

	for (unsigned int i = 0; i < inst->count; i++) {
		if (inst->origins[i].explicit_set)
			return true;
		if (inst->embedded[i] != NULL &&
		    config_has_explicit(inst->embedded[i]))
			return true;
	}
	array_foreach(&inst->list, child) {
		if (!(*child)->builtin_created || config_has_explicit(*child))
			return true;
	}
	return false;
}

/* Would the scanner read value back unchanged without quotes? */
static bool config_needs_quotes(const char *value, bool section_name)
{
	size_t len = strlen(value);

	if (len == 0)
		return section_name;
	if (value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' ||
	    value[len - 1] == '\t' || value[0] == '<')
		return true;
	/* `type =name {` would read as a setting */
	if (section_name && value[0] == '=')
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f || strchr("#\"'\\$", c) != NULL)
			return true;
		if (section_name && c == '{')
			return true;
		/* a lone } ends an unquoted value */
		if (c == '}' && (i == 0 || value[i - 1] == ' ' ||
				 value[i - 1] == '\t') &&
		    (i + 1 == len || value[i + 1] == ' ' ||
		     value[i + 1] == '\t'))
			return true;
	}
	return false;
}

static void config_append_quoted(string_t *out, const char *value,
				 bool section_name)
{
	if (!config_needs_quotes(value, section_name)) {
		str_append(out, value);
		return;
	}
	str_append_c(out, '"');
	for (const char *p = value; *p != '\0'; p++) {
		switch (*p) {
		case '"':
		case '\\':
			str_append_c(out, '\\');
			str_append_c(out, *p);
			break;
		case '\n':
			str_append(out, "\\n");
			break;
		case '\r':
			str_append(out, "\\r");
			break;
		case '\t':
			str_append(out, "\\t");
			break;
		default:
			str_append_c(out, *p);
			break;
		}
	}
	str_append_c(out, '"');
}

static void config_indent(string_t *out, unsigned int indent)
{
	for (unsigned int i = 0; i < indent; i++)
		str_append(out, "  ");
}

static void config_dump_instance(struct config_instance *inst, string_t *out,
				 unsigned int indent,
				 enum config_dump_flags flags)
{
	config_dump_settings_t items;
	config_instance_array_t sections;
	const struct config_dump_setting *item;
	struct config_instance *const *child;
	bool non_default = (flags & CONFIG_DUMP_FLAG_NON_DEFAULT) != 0;

	array_init(&items, pool_datastack, 32);
	config_collect_settings(inst, &items);
	qsort(items.v, array_count(&items), sizeof(*items.v),
	      config_dump_setting_cmp);
	array_foreach(&items, item) {
		const struct config_setting_def *d =
			&item->inst->def->settings[item->idx];
		const struct config_origin *origin =
			&item->inst->origins[item->idx];
		const char *value = config_setting_format(d, item->inst->set);

		if ((non_default || item->inst->inherited) &&
		    !origin->explicit_set)
			continue;
		config_indent(out, indent);
		str_append(out, d->key);
		str_append(out, " = ");
		if ((flags & CONFIG_DUMP_FLAG_HIDE_SECRETS) != 0 &&
		    (d->flags & CONFIG_SETTING_FLAG_SECRET) != 0 &&
		    *value != '\0') {
			str_append(out, "# hidden, use -P to show it");
		} else if (origin->value_file != NULL &&
			   (flags & CONFIG_DUMP_FLAG_EXPAND_FILES) == 0) {
			str_append_c(out, '<');
			config_append_quoted(out, origin->value_file, false);
		} else {
			config_append_quoted(out, value, false);
		}
		str_append_c(out, '\n');
	}

	array_init(&sections, pool_datastack, 16);
	config_collect_sections(inst, &sections);
	qsort(sections.v, array_count(&sections), sizeof(*sections.v),
	      config_instance_cmp);
	array_foreach(&sections, child) {
		if (non_default && (*child)->builtin_created &&
		    !config_has_explicit(*child))
			continue;
		if (non_default &&
		    (*child)->parent_def->type == CONFIG_TYPE_SECTION &&
		    !config_has_explicit(*child))
			continue;
		config_indent(out, indent);
		str_append(out, (*child)->parent_def->key);
		if ((*child)->name != NULL) {
			str_append_c(out, ' ');
			config_append_quoted(out, (*child)->name, true);
		}
		str_append(out, " {\n");
		config_dump_instance(*child, out, indent + 1, flags);
		config_indent(out, indent);
		str_append(out, "}\n");
	}
}

void config_dump_with_flags(const struct config *cfg, string_t *out,
			    enum config_dump_flags flags)
{
	/* Build on the heap: out may be a data stack buffer of the caller's
	   frame, which must not grow inside a frame of ours. */
	string_t *dump = str_new(system_pool, 4096);

	T_BEGIN {
		str_printfa(dump, "# columba %s: %s\n", COLUMBA_VERSION,
			    cfg->path);
		config_dump_instance(cfg->root, dump, 0, flags);
	} T_END;
	str_append_str(out, dump);
	/* it may hold secrets */
	safe_memset(dump->data, 0, str_len(dump));
	str_free(&dump);
}

void config_dump(const struct config *cfg, string_t *out,
		 bool non_default_only)
{
	config_dump_with_flags(cfg, out, non_default_only ?
			       CONFIG_DUMP_FLAG_NON_DEFAULT : 0);
}
