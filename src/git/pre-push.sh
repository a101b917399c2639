# Lockstep's pre-push hook body. `lockstep hook install --pre-push` writes it into
# the hooks directory after a header that sets lockstep_node, lockstep_cli and
# lockstep_electron; src/git/hook.ts describes the hooks.
#
# POSIX sh (dash, bash, BusyBox); every path goes through double quotes.
# git runs it before a push with the remote's name and URL as $1 and $2, and
# one line per ref to update on stdin: <local ref> <local sha> <remote ref> <remote sha>.
# What it promises:
#   - a pre-push hook that was here before still runs first, with the same
#     arguments and lines, and its exit status is this hook's: when it refuses
#     the push, the push is refused (and nothing is recorded);
#   - Lockstep itself never refuses or stalls a push: `lockstep record --push`
#     is stopped after 4 s (PUSH_RECORD_TERM_MS in src/git/hook.ts says why not
#     a commit's 1.7 s), and the hook exits with the earlier hook's status;
#   - no push goes unrecorded without saying so: one line on stderr, and the
#     same line in .git/lockstep/lockstep.log (what `lockstep status` shows).
# git has no hook after a push: a push the remote then rejects is recorded too.

lockstep_term_s=4
lockstep_kill_s=0.3

case $0 in */*) lockstep_dir=${0%/*} ;; *) lockstep_dir=. ;; esac
lockstep_chained=$lockstep_dir/pre-push.lockstep-chained
lockstep_status=0
lockstep_remote=${1-}
lockstep_url=${2-}

# Both hooks need git's lines, and stdin can be read once: keep them.
lockstep_refs=$(cat)

# The kept lines on stdout, each ending in a newline (none at all when there are none).
lockstep_feed() {
  [ -z "$lockstep_refs" ] || printf '%s\n' "$lockstep_refs"
}

# Like git, run the earlier hook only if it is executable.
if [ -f "$lockstep_chained" ] && [ -x "$lockstep_chained" ]; then
  lockstep_line=
  IFS= read -r lockstep_line < "$lockstep_chained" || :
  case $lockstep_line in
    '#!'*) lockstep_interp=${lockstep_line#??} ;;
    *) lockstep_interp=/bin/sh ;; # git runs a hook without an interpreter line with sh
  esac
  set -f
  set -- $lockstep_interp
  set +f
  lockstep_shell=${1-}
  case ${lockstep_shell##*/} in env) lockstep_shell=${2-} ;; esac
  case ${lockstep_shell##*/} in
    sh | bash | dash | ash | ksh | mksh | zsh)
      # A shell script is sourced by its own shell with $0 set to this hook's path, because
      # hook managers take the hook's name from $0 (husky runs .husky/$(basename "$0")).
      lockstep_feed | LOCKSTEP_CHAINED=$lockstep_chained "$@" -c 'lockstep_hook_file=$LOCKSTEP_CHAINED; unset LOCKSTEP_CHAINED; . "$lockstep_hook_file"' "$0" "$lockstep_remote" "$lockstep_url"
      ;;
    *) lockstep_feed | "$lockstep_chained" "$lockstep_remote" "$lockstep_url" ;;
  esac
  lockstep_status=$?
  # The push will not happen: there is nothing to record.
  [ "$lockstep_status" -eq 0 ] || exit "$lockstep_status"
fi

# Deleted refs (an all-zero local sha) record nothing; when nothing else is pushed, Node is not started.
lockstep_any=
while IFS=' ' read -r lockstep_lref lockstep_lsha lockstep_rref lockstep_rsha; do
  case $lockstep_lsha in *[!0]*) lockstep_any=1 ;; esac
done <<EOF
$lockstep_refs
EOF
[ -n "$lockstep_any" ] || exit "$lockstep_status"

lockstep_gitcommon=$(git rev-parse --git-common-dir 2>/dev/null) || lockstep_gitcommon=
lockstep_home=${lockstep_gitcommon:-.git}/lockstep
case $lockstep_home in /*) ;; *) lockstep_home=$PWD/$lockstep_home ;; esac

# The line `lockstep status` and the extension show, as the commit hook writes it.
lockstep_not_recorded() {
  echo "lockstep: could not record a checkpoint for this push: $1" >&2
  [ -d "$lockstep_home" ] && printf '%s record failed: push: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" >> "$lockstep_home/lockstep.log" 2>/dev/null
  :
}

# git runs this hook for `git push --dry-run` too: record tells one by git's command line (LOCKSTEP_GIT_PID).
LOCKSTEP_HOOK=pre-push
LOCKSTEP_GIT_PID=$PPID
export LOCKSTEP_HOOK LOCKSTEP_GIT_PID
if [ -f "$lockstep_cli" ] && [ -x "$lockstep_node" ]; then
  if [ "$lockstep_electron" = 1 ]; then
    # VS Code's own binary behaves as Node only with this set.
    ELECTRON_RUN_AS_NODE=1
    export ELECTRON_RUN_AS_NODE
  fi
  set -- "$lockstep_node" "$lockstep_cli"
elif [ -f "$lockstep_cli" ] && command -v node >/dev/null 2>&1; then
  set -- node "$lockstep_cli"
elif command -v lockstep >/dev/null 2>&1; then
  set -- lockstep
else
  lockstep_not_recorded "$lockstep_cli, or a Node.js to run it, is missing; run \`lockstep hook install --pre-push\` again"
  exit "$lockstep_status"
fi

# `lockstep record --push` in the background only so that a watchdog can stop it (coreutils
# `timeout` is not on macOS, BusyBox's takes other options); git's lines reach it through a
# pipe. The watchdog holds no output pipe, so whoever reads git's output is not kept waiting.
lockstep_feed | "$@" record --push="$lockstep_remote" --url="$lockstep_url" &
lockstep_pid=$!
(
  sleep "$lockstep_term_s" 2>/dev/null || sleep 2
  kill -TERM "$lockstep_pid" 2>/dev/null
  sleep "$lockstep_kill_s" 2>/dev/null || sleep 1
  kill -KILL "$lockstep_pid" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
lockstep_watchdog=$!
wait "$lockstep_pid" 2>/dev/null
lockstep_rc=$?
kill "$lockstep_watchdog" 2>/dev/null
if [ "$lockstep_rc" -gt 128 ]; then
  # Killed before it could say so itself (Node still starting): say it here, and log it as record would.
  lockstep_not_recorded "stopped by the pre-push hook after $lockstep_term_s s"
fi
exit "$lockstep_status"
