/* rules_suggest: the `shadowproxy rules` subcommand; `rules suggest LOG...
 * [-o FILE] [--base RULES]` proposes a rules file from a diff log recorded
 * with --diff-log-mode all (docs/rules.md, "Suggested rules"). */
#ifndef SP_RULES_SUGGEST_H
#define SP_RULES_SUGGEST_H

/* argv[0] is "rules". Returns the process exit code: 0, 1 (a log could not
 * be read, or the file not written), 2 (usage, or --base has errors). */
int rules_main(int argc, char **argv);

#endif
