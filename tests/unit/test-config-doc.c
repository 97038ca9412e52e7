/* nbd-integrity(8) against the table of configuration keys.
 *
 * The parser knows a key only by its row of config_keys (config-keys.c),
 * and the man page lists every key of a group as an "=item B<KEY=>..."
 * under "=head2 [server]", "=head2 [export NAME]" and "=head2 [array
 * NAME]" of CONFIGURATION FILE.  The test checks that each group's items
 * are exactly its keys in the table, each once; that where an item
 * spells out a key's choices (B<tls=off>|B<on>|B<require>) they are the
 * table's; and that the keys checked by the plugin's validator name its
 * parameters, every one of them but status=, which serve sets itself.
 * And that the configuration fuzzer's dictionary (tests/fuzz/config.dict),
 * which claims every key, has each: a key it lacks is one the fuzzer
 * seldom spells.
 *
 * Usage: test-config-doc PATH-OF-nbd-integrity.8.pod PATH-OF-config.dict
 * (meson passes them).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config-internal.h"
#include "params.h"
#include "util.h"

#define KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-"

/* The man page and the dictionary, read by main before the tests fork. */
static char *pod, *dict;

/* The text of TEXT from HEADING's line to the next heading of LEVEL or
 * =head1, or NULL. */
static char *
pod_section (const char *text, const char *heading, const char *level)
{
  g_autofree char *line = g_strdup_printf ("\n%s\n", heading);
  g_autofree char *next = g_strdup_printf ("\n%s ", level);
  const char *start = strstr (text, line), *end, *head1;

  if (start == NULL)
    return NULL;
  start += strlen (line);
  end = strstr (start, next);
  head1 = strstr (start, "\n=head1 ");
  if (end == NULL || (head1 && head1 < end))
    end = head1;
  return end ? g_strndup (start, end - start) : g_strdup (start);
}

/* An "=item B<KEY=...>" line, at KEY, as a string vector: KEY, then the
 * words of the B<...> that follow KEY=, its choices ("off>|B<on>|B<require>"
 * or ">B<tags>|B<full>"); none if what follows is not B<...>. */
static char **
item_words (const char *key, size_t len)
{
  GPtrArray *words = g_ptr_array_new ();
  const char *s = key + len + 1, *end;

  g_ptr_array_add (words, g_strndup (key, len));
  if (g_str_has_prefix (s, ">B<"))
    s += 3;
  else if (*s == '>')
    s = "";
  while ((end = strchr (s, '>')) != NULL) {
    g_ptr_array_add (words, g_strndup (s, end - s));
    if (!g_str_has_prefix (end, ">|B<"))
      break;
    s = end + 4;
  }
  g_ptr_array_add (words, NULL);
  return (char **)g_ptr_array_free (words, FALSE);
}

/* The items of the man page's section of groups of KIND (item_words). */
static GPtrArray *
pod_items (enum group_kind kind)
{
  g_autofree char *heading =
      kind == GROUP_SERVER
          ? g_strdup ("=head2 [server]")
          : g_strdup_printf ("=head2 [%s NAME]", group_kind_name (kind));
  g_autofree char *config =
      pod_section (pod, "=head1 CONFIGURATION FILE", "=head1");
  g_autofree char *section = NULL;
  g_auto (GStrv) lines = NULL;
  GPtrArray *items =
      g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);

  ck_assert_msg (config, "nbd-integrity(8) has no CONFIGURATION FILE");
  section = pod_section (config, heading, "=head2");
  ck_assert_msg (section, "nbd-integrity(8) has no \"%s\"", heading);
  lines = g_strsplit (section, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    const char *s = lines[i];
    size_t n;

    if (!g_str_has_prefix (s, "=item B<"))
      continue;
    s += strlen ("=item B<");
    n = strspn (s, KEY_CHARS);
    ck_assert_msg (n > 0 && s[n] == '=',
                   "under \"%s\": \"%s\" does not name a key as B<KEY=>",
                   heading, lines[i]);
    g_ptr_array_add (items, item_words (s, n));
  }
  return items;
}

static char **
find_item (const GPtrArray *items, const char *key, unsigned *count)
{
  char **found = NULL;

  *count = 0;
  for (guint i = 0; i < items->len; i++) {
    char **it = g_ptr_array_index (items, i);

    if (strcmp (it[0], key) == 0) {
      found = it;
      (*count)++;
    }
  }
  return found;
}

/* Where an item spells out the choices of a key, they are the table's;
 * if not, says so in BAD. */
static void
check_choices (const char *group, const struct config_key *k, char **item,
               GString *bad)
{
  if (k->type == KEY_CHOICE && item[1] &&
      !g_strv_equal (k->choices, (const char *const *)item + 1))
    g_string_append_printf (bad,
                            "\n  [%s] %s=: the man page's choices are not "
                            "the table's",
                            group, k->name);
}

/* Adds to BAD a line for each key of KIND the man page and the table
 * disagree on. */
static void
compare_group (enum group_kind kind, GString *bad)
{
  g_autoptr (GPtrArray) items = pod_items (kind);
  const char *group = group_kind_name (kind);
  unsigned count;

  for (size_t i = 0; i < nr_config_keys; i++) {
    const struct config_key *k = &config_keys[i];
    char **it;

    if (k->group != kind)
      continue;
    it = find_item (items, k->name, &count);
    if (count != 1)
      g_string_append_printf (bad,
                              "\n  [%s] %s=: in the table, %u times in the "
                              "man page",
                              group, k->name, count);
    else
      check_choices (group, k, it, bad);
  }
  for (guint i = 0; i < items->len; i++) {
    char **it = g_ptr_array_index (items, i);

    if (config_key_find (kind, it[0]) == NULL)
      g_string_append_printf (bad,
                              "\n  [%s] %s=: in the man page, not in the "
                              "table",
                              group, it[0]);
  }
}

START_TEST (man_page_lists_the_table)
{
  g_autoptr (GString) bad = g_string_new (NULL);

  for (enum group_kind kind = GROUP_SERVER; kind <= GROUP_ARRAY; kind++)
    compare_group (kind, bad);
  ck_assert_msg (bad->len == 0, "nbd-integrity(8) and config_keys disagree:%s",
                 bad->str);
}
END_TEST

START_TEST (plugin_params_are_keys)
{
  for (size_t i = 0; i < nr_config_keys; i++)
    if (config_keys[i].type == KEY_PARAM)
      ck_assert_msg (param_by_name (config_keys[i].param),
                     "%s= is checked as the plugin's %s=, which it has not",
                     config_keys[i].name, config_keys[i].param);
  for (unsigned i = 0; i < nr_params; i++) {
    unsigned n = 0;

    for (size_t j = 0; j < nr_config_keys; j++)
      n += config_keys[j].type == KEY_PARAM &&
           strcmp (config_keys[j].param, params[i].name) == 0;
    if (strcmp (params[i].name, "status") != 0)
      ck_assert_msg (n == 1, "the plugin's %s= is %u keys of [export NAME]",
                     params[i].name, n);
    else
      ck_assert_msg (n == 0, "status= is serve's to set, from status-dir=");
  }
}
END_TEST

START_TEST (fuzz_dictionary_has_every_key)
{
  g_autoptr (GString) missing = g_string_new (NULL);

  for (size_t i = 0; i < nr_config_keys; i++) {
    g_autofree char *entry =
        g_strdup_printf ("\n\"%s\"\n", config_keys[i].name);
    if (strstr (dict, entry) == NULL &&
        strstr (missing->str, entry + 1) == NULL)
      g_string_append (missing, entry + 1);
  }
  ck_assert_msg (missing->len == 0,
                 "tests/fuzz/config.dict lacks these keys:\n%s", missing->str);
}
END_TEST

int
main (int argc, char **argv)
{
  Suite *s = suite_create ("config-doc");
  TCase *tc = tcase_create ("config-doc");
  g_autoptr (GError) err = NULL;

  if (argc != 3 || !g_file_get_contents (argv[1], &pod, NULL, &err) ||
      !g_file_get_contents (argv[2], &dict, NULL, &err)) {
    fprintf (stderr, "usage: %s nbd-integrity.8.pod config.dict%s%s\n", argv[0],
             err ? ": " : "", err ? err->message : "");
    return EXIT_FAILURE;
  }
  tcase_add_test (tc, man_page_lists_the_table);
  tcase_add_test (tc, plugin_params_are_keys);
  tcase_add_test (tc, fuzz_dictionary_has_every_key);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
