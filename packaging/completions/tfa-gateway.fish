# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tfa_gateway_global_optspecs
    string join \n log-format= h/help V/version
end

function __fish_tfa_gateway_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tfa_gateway_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tfa_gateway_using_subcommand
    set -l cmd (__fish_tfa_gateway_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -s V -l version -d 'Print version'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "run" -d 'Run the gateway'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "demo" -d 'Run the demo dashboard with the gateway in front of it; no configuration needed'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "demo-dashboard" -d 'Run only the demo dashboard (no gateway), so that several gateways can front one dashboard; prints its address and serves until stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "check-config" -d 'Check a configuration file and exit'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "rotate-key" -d 'Re-encrypt every stored secret under a new key; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "restore" -d 'Bring back a backup (from `admin backup`) into the configuration\'s store, which must be empty; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "store" -d 'Work on the store itself; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "admin" -d 'Operator commands, sent to the running gateway\'s admin API'
complete -c tfa-gateway -n "__fish_tfa_gateway_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand run" -l config -d 'The gateway\'s configuration file (TOML; see config/example.toml)' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand run" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand run" -l upgrade -d 'Take over from the gateway running on the same data folder: start this, then send the running one SIGQUIT. Its listening sockets pass over, requests in flight finish, and no connection is refused'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo" -l listen -d 'Where the gateway listens' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo" -l data-dir -d 'Where the demo keeps its state (default: a folder under the temp dir)' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo-dashboard" -l listen -d 'Where the demo dashboard listens' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo-dashboard" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand demo-dashboard" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand check-config" -l config -d 'The configuration file to check; a problem is named by file and key' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand check-config" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand check-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand rotate-key" -l config -d 'The gateway\'s configuration (its key source names the current key)' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand rotate-key" -l new-key-file -d 'A file holding the new 32-byte key (base64 or hex)' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand rotate-key" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand rotate-key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand restore" -l config -d 'The gateway\'s configuration: the store to restore into' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand restore" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and not __fish_seen_subcommand_from copy help" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and not __fish_seen_subcommand_from copy help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and not __fish_seen_subcommand_from copy help" -f -a "copy" -d 'Copy the embedded store into an empty PostgreSQL database and verify the copy; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and not __fish_seen_subcommand_from copy help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from copy" -l from -d 'The gateway\'s data folder (its `data_dir`), as sled:DIR' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from copy" -l to -d 'The database, as postgres://USER@HOST:PORT/DB. A password in it is never printed, but a command line is visible to other local users: prefer --to-env' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from copy" -l to-env -d 'The environment variable that holds the database\'s URL, like `[store] url_env`' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from copy" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "copy" -d 'Copy the embedded store into an empty PostgreSQL database and verify the copy; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -l config -d 'The gateway\'s configuration, to find the admin API and its token' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -l admin -d 'The admin API\'s address (instead of --config), e.g. 127.0.0.1:9090' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -l token-file -d 'The file holding the admin token (instead of --config)' -r -F
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -l json -d 'Print the API\'s JSON answer instead of text'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "activate" -d 'Turn the 2FA feature on for an account'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "deactivate" -d 'Turn the 2FA feature off for an account: its users see no 2FA at all'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "account" -d 'An account\'s flags and each known user: id, role, TOTP, SMS, recovery codes left'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "reset-user" -d 'Remove a user\'s second factor (lost device and codes): TOTP, SMS, security keys, recovery codes and remembered devices'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "sign-out-user" -d 'Sign all of a user\'s sessions out, on every gateway, and their dashboard sessions with them (a stolen laptop, a departing person)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "audit" -d 'The audit trail, newest first'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "metrics" -d 'The Prometheus metrics'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "backup" -d 'Write a consistent copy of the running gateway\'s embedded store to FILE (readable by its owner only), for `tfa-gateway restore`'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and not __fish_seen_subcommand_from activate deactivate account reset-user sign-out-user audit metrics backup help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from activate" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from activate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from deactivate" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from deactivate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from account" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from account" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from reset-user" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from reset-user" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from sign-out-user" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from sign-out-user" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from audit" -l user -d 'Only events about this user (id or email)' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from audit" -l account -d 'Only events of this account: its requirement and activation changes, and its members\' own events (sign-ins, 2FA enabled, disabled, forced, failed codes, resets)' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from audit" -l limit -d 'At most this many events' -r
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from audit" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from metrics" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from metrics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from backup" -l log-format -d 'Log format on standard error' -r -f -a "text\t'One readable line per event'
json\t'One JSON object per line, for log collectors'"
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "activate" -d 'Turn the 2FA feature on for an account'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "deactivate" -d 'Turn the 2FA feature off for an account: its users see no 2FA at all'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "account" -d 'An account\'s flags and each known user: id, role, TOTP, SMS, recovery codes left'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "reset-user" -d 'Remove a user\'s second factor (lost device and codes): TOTP, SMS, security keys, recovery codes and remembered devices'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "sign-out-user" -d 'Sign all of a user\'s sessions out, on every gateway, and their dashboard sessions with them (a stolen laptop, a departing person)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "audit" -d 'The audit trail, newest first'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "metrics" -d 'The Prometheus metrics'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "backup" -d 'Write a consistent copy of the running gateway\'s embedded store to FILE (readable by its owner only), for `tfa-gateway restore`'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "run" -d 'Run the gateway'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "demo" -d 'Run the demo dashboard with the gateway in front of it; no configuration needed'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "demo-dashboard" -d 'Run only the demo dashboard (no gateway), so that several gateways can front one dashboard; prints its address and serves until stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "check-config" -d 'Check a configuration file and exit'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "rotate-key" -d 'Re-encrypt every stored secret under a new key; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "restore" -d 'Bring back a backup (from `admin backup`) into the configuration\'s store, which must be empty; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "store" -d 'Work on the store itself; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "admin" -d 'Operator commands, sent to the running gateway\'s admin API'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and not __fish_seen_subcommand_from run demo demo-dashboard check-config rotate-key restore store admin help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "copy" -d 'Copy the embedded store into an empty PostgreSQL database and verify the copy; the gateway must be stopped'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "activate" -d 'Turn the 2FA feature on for an account'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "deactivate" -d 'Turn the 2FA feature off for an account: its users see no 2FA at all'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "account" -d 'An account\'s flags and each known user: id, role, TOTP, SMS, recovery codes left'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "reset-user" -d 'Remove a user\'s second factor (lost device and codes): TOTP, SMS, security keys, recovery codes and remembered devices'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "sign-out-user" -d 'Sign all of a user\'s sessions out, on every gateway, and their dashboard sessions with them (a stolen laptop, a departing person)'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "audit" -d 'The audit trail, newest first'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "metrics" -d 'The Prometheus metrics'
complete -c tfa-gateway -n "__fish_tfa_gateway_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "backup" -d 'Write a consistent copy of the running gateway\'s embedded store to FILE (readable by its owner only), for `tfa-gateway restore`'
