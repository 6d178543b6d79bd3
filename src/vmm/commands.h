/* commands.h — pscivm's subcommands, dispatched by main(). Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns a process exit status (exit_status.h). */
#ifndef PSCIVM_COMMANDS_H
#define PSCIVM_COMMANDS_H

int cmd_ctl(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
