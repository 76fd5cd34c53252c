/* toml_keys: the key-table walker of toml_keys.h. */
#include "toml_keys.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static bool section_known(const struct toml_keys *spec, const char *sec)
{
	for (size_t i = 0; i < spec->n; i++)
		if (!strcmp(spec->keys[i].section, sec))
			return true;
	return false;
}

/* The entry of sec.name: its own, else the section's catch-all. */
static const struct toml_key *key_find(const struct toml_keys *spec, const char *sec,
				       const char *name)
{
	const struct toml_key *any = NULL;

	for (size_t i = 0; i < spec->n; i++) {
		const struct toml_key *k = &spec->keys[i];

		if (strcmp(k->section, sec))
			continue;
		if (!k->name)
			any = any ? any : k;
		else if (!strcmp(k->name, name))
			return k;
	}
	return any;
}

static int key_read(const struct toml_keys *spec, const struct toml_key *k, const toml_value *v,
		    void *base, const struct toml_key_at *at)
{
	char *dst = (char *)base + k->offset;
	int line = toml_line(v);

	switch (k->type) {
	case TOML_KEY_STR: {
		const char *sv = toml_string(v);

		if (!sv) {
			snprintf(at->err, at->errlen, "%s: line %d: %s must be a string", at->path,
				 line, at->what);
			return -1;
		}
		if (util_strlcpy(dst, sv, k->size)) {
			if (spec->say_max_len)
				snprintf(at->err, at->errlen, "%s: line %d: %s is too long (max %zu)",
					 at->path, line, at->what, k->size - 1);
			else
				snprintf(at->err, at->errlen, "%s: line %d: %s is too long", at->path,
					 line, at->what);
			return -1;
		}
		return 0;
	}
	case TOML_KEY_INT: {
		int64_t iv;

		if (toml_int(v, &iv) || iv < k->min || iv > k->max) {
			snprintf(at->err, at->errlen,
				 "%s: line %d: %s must be an integer from %lld to %lld", at->path,
				 line, at->what, (long long)k->min, (long long)k->max);
			return -1;
		}
		memcpy(dst, &iv, sizeof iv);
		return 0;
	}
	case TOML_KEY_FLOAT: {
		double dv;

		if (toml_float(v, &dv) || !(dv >= (double)k->min && dv <= (double)k->max)) {
			snprintf(at->err, at->errlen,
				 "%s: line %d: %s must be a number from %lld to %lld", at->path, line,
				 at->what, (long long)k->min, (long long)k->max);
			return -1;
		}
		memcpy(dst, &dv, sizeof dv);
		return 0;
	}
	case TOML_KEY_BOOL: {
		bool bv;

		if (toml_bool(v, &bv)) {
			snprintf(at->err, at->errlen, "%s: line %d: %s must be true or false",
				 at->path, line, at->what);
			return -1;
		}
		memcpy(dst, &bv, sizeof bv);
		return 0;
	}
	case TOML_KEY_SET:
	default:
		return k->set(base, k, v, at);
	}
}

int toml_keys_load(const struct toml_keys *spec, const toml_value *root, void *base,
		   const char *path, char *err, size_t errlen)
{
	for (size_t s = 0; s < toml_len(root); s++) {
		const char *sec = toml_key_at(root, s);
		const toml_value *tab = toml_at(root, s);

		if (toml_type_of(tab) != TOML_TABLE) {
			if (spec->section_hint)
				snprintf(err, errlen,
					 "%s: line %d: key '%s' must be inside a section such as [%s]",
					 path, toml_line(tab), sec, spec->section_hint);
			else
				snprintf(err, errlen, "%s: line %d: unknown key '%s' outside a section",
					 path, toml_line(tab), sec);
			return -1;
		}
		if (!section_known(spec, sec)) {
			snprintf(err, errlen, "%s: line %d: unknown section [%s]", path,
				 toml_line(tab), sec);
			return -1;
		}
		for (size_t i = 0; i < toml_len(tab); i++) {
			const char *name = toml_key_at(tab, i);
			const toml_value *v = toml_at(tab, i);
			const struct toml_key *k = key_find(spec, sec, name);
			char what[160];
			struct toml_key_at at = { path, sec, name, what, err, errlen };

			if (!k) {
				snprintf(err, errlen, "%s: line %d: unknown key '%s' in [%s]", path,
					 toml_line(v), name, sec);
				return -1;
			}
			/* Only a catch-all's names come from the file: the
			 * setter says them itself. */
			snprintf(what, sizeof what, "%s.%s", sec, k->name ? k->name : "*");
			if (key_read(spec, k, v, base, &at))
				return -1;
		}
	}
	return 0;
}
