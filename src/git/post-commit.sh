# Lockstep's post-commit hook body. `lockstep hook install` writes it into the
# hooks directory after a header that sets lockstep_node, lockstep_cli and
# lockstep_electron; src/git/hook.ts documents when git runs it.
#
# POSIX sh (dash, bash, BusyBox); every path goes through double quotes.
# What it promises:
#   - the commit never fails because of Lockstep, and returns within 2 s;
#   - no commit goes unrecorded without saying so: before anything can hang,
#     the commit and the moment it was made are written to a spool file in
#     .git/lockstep/pending/, which any later Lockstep command folds into the
#     journal. If the database position cannot be read in time, that file is
#     the checkpoint: time-based, restored by the clock;
#   - the position is read without Node when it can be (psql over the
#     cluster's private socket, as .git/lockstep/hook.conf says), else by
#     `lockstep record`, bounded by a watchdog (LOCKSTEP_NO_PSQL=1 forces that).

# The budget, counted from the hook's start: psql gets PSQL_S, Node TERM_S, then KILL_S more.
lockstep_psql_s=1
lockstep_term_s=1.7
lockstep_kill_s=0.2

case $0 in */*) lockstep_dir=${0%/*} ;; *) lockstep_dir=. ;; esac
lockstep_chained=$lockstep_dir/post-commit.lockstep-chained
lockstep_status=0

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
      LOCKSTEP_CHAINED=$lockstep_chained "$@" -c 'lockstep_hook_file=$LOCKSTEP_CHAINED; unset LOCKSTEP_CHAINED; . "$lockstep_hook_file"' "$0"
      ;;
    *) "$lockstep_chained" ;;
  esac
  lockstep_status=$?
fi

# One git process for everything the hook needs to know of the repository.
lockstep_info=$(git rev-parse --git-dir --git-common-dir HEAD --symbolic-full-name HEAD 2>/dev/null) || lockstep_info=
lockstep_gitdir= lockstep_common= lockstep_sha= lockstep_ref=
{
  IFS= read -r lockstep_gitdir
  IFS= read -r lockstep_common
  IFS= read -r lockstep_sha
  IFS= read -r lockstep_ref
} <<EOF
$lockstep_info
EOF
# The moment, as soon as possible after the commit: a time-based checkpoint is restored to it.
lockstep_time=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ 2>/dev/null)
case $lockstep_time in
  *N*|'') lockstep_time=$(date -u +%Y-%m-%dT%H:%M:%S.000Z) ;; # no %N (BusyBox, macOS): whole seconds
esac

# A rebase replays old commits on a new base; the database did not move with them.
# Checked here, without starting Node, so that a long rebase stays fast.
for lockstep_rebase in "${lockstep_gitdir:-.git}/rebase-merge" "${lockstep_gitdir:-.git}/rebase-apply"; do
  if [ -d "$lockstep_rebase" ]; then
    if [ ! -e "$lockstep_rebase/lockstep-noted" ]; then
      echo 'lockstep: a rebase is in progress; the commits it replays are not recorded (lockstep snapshot marks the result)' >&2
      # git removes this directory, and our note with it, when the rebase ends: one line per rebase.
      true > "$lockstep_rebase/lockstep-noted" 2>/dev/null
    fi
    exit $lockstep_status
  fi
done

lockstep_home=${lockstep_common:-.git}/lockstep
case $lockstep_home in /*) ;; *) lockstep_home=$PWD/$lockstep_home ;; esac

# One line in the log that `lockstep status` and the extension show.
lockstep_log() {
  [ -d "$lockstep_home" ] && printf '%s record failed: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" >> "$lockstep_home/lockstep.log" 2>/dev/null
  :
}

# Runs "$@" in the foreground but bounded: started in the background only so that a
# watchdog can stop it (coreutils `timeout` is not on macOS, BusyBox's takes other
# options). The watchdog holds no output pipe, so whoever reads git's output, or a
# command substitution, is not kept waiting by it.
lockstep_bounded() {
  lockstep_term=$1 lockstep_kill=$2
  shift 2
  "$@" &
  lockstep_pid=$!
  (
    sleep "$lockstep_term" 2>/dev/null || sleep 1
    kill -TERM "$lockstep_pid" 2>/dev/null
    sleep "$lockstep_kill" 2>/dev/null || sleep 1
    kill -KILL "$lockstep_pid" 2>/dev/null
  ) </dev/null >/dev/null 2>&1 &
  lockstep_watchdog=$!
  wait "$lockstep_pid" 2>/dev/null
  lockstep_rc=$?
  kill "$lockstep_watchdog" 2>/dev/null
  return $lockstep_rc
}

if [ ! -d "$lockstep_home" ] || [ -z "$lockstep_sha" ]; then
  # Not set up here (or HEAD unreadable): `lockstep record` says why, as before.
  lockstep_pending=
else
  # The pairing first. Written in one printf; readers skip a file without its `end` line.
  mkdir -p "$lockstep_home/pending" 2>/dev/null
  lockstep_pending=$lockstep_home/pending/$lockstep_sha.$$
  printf 'lockstep-pending 1\nsha %s\ntime %s\nref %s\nend\n' "$lockstep_sha" "$lockstep_time" "$lockstep_ref" > "$lockstep_pending" 2>/dev/null ||
    lockstep_pending=
fi

# The fast path: psql over the cluster's private socket, when hook.conf names one. Only
# the cluster's own account (and root) can create a socket in that 0700 directory, which
# is what keeps an impostor out: libpq before 16 cannot refuse to send the password in
# clear. From 16 on, PGREQUIREAUTH makes it refuse anything but SCRAM too (older ones ignore it).
lockstep_psql= lockstep_host= lockstep_port= lockstep_user= lockstep_db= lockstep_passfile=
if [ -n "$lockstep_pending" ] && [ -z "${LOCKSTEP_NO_PSQL-}" ] && [ -f "$lockstep_home/hook.conf" ]; then
  while IFS=' ' read -r lockstep_key lockstep_value; do
    case $lockstep_key in
      psql) lockstep_psql=$lockstep_value ;;
      host) lockstep_host=$lockstep_value ;;
      port) lockstep_port=$lockstep_value ;;
      user) lockstep_user=$lockstep_value ;;
      dbname) lockstep_db=$lockstep_value ;;
      passfile) lockstep_passfile=$lockstep_value ;;
    esac
  done < "$lockstep_home/hook.conf"
fi
lockstep_measured=
if [ -n "$lockstep_psql" ] && [ -x "$lockstep_psql" ] && [ -S "$lockstep_host/.s.PGSQL.$lockstep_port" ]; then
  # The WAL file's name carries the timeline; failing_since is set while the archiver fails.
  lockstep_row=$(PGHOST=$lockstep_host PGPORT=$lockstep_port PGUSER=$lockstep_user PGDATABASE=$lockstep_db \
    PGPASSFILE=$lockstep_passfile PGCONNECT_TIMEOUT=2 PGAPPNAME=lockstep-hook PGOPTIONS= PSQLRC=/dev/null PGREQUIREAUTH=scram-sha-256 \
    lockstep_bounded "$lockstep_psql_s" 0.2 "$lockstep_psql" -XAtqw -F ' ' -c \
    "SELECT pg_walfile_name(l), l, coalesce(a.last_failed_time > coalesce(a.last_archived_time, '-infinity'), false)
       FROM pg_current_wal_insert_lsn() AS l LEFT JOIN pg_stat_archiver a ON true" 2>/dev/null)
  lockstep_rc=$?
  lockstep_walfile=${lockstep_row%% *}
  lockstep_rest=${lockstep_row#* }
  lockstep_lsn=${lockstep_rest%% *}
  lockstep_failing=${lockstep_rest#* }
  case $lockstep_rc:$lockstep_walfile:$lockstep_lsn in
    0:[0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F]*:*/*)
      lockstep_tl=${lockstep_walfile%????????????????}
      lockstep_tl=$((0x$lockstep_tl))
      printf 'lockstep-pending 1\nsha %s\ntime %s\nref %s\ntimeline %s\nlsn %s\nend\n' \
        "$lockstep_sha" "$lockstep_time" "$lockstep_ref" "$lockstep_tl" "$lockstep_lsn" > "$lockstep_pending.tmp" 2>/dev/null &&
        mv -f "$lockstep_pending.tmp" "$lockstep_pending" 2>/dev/null && lockstep_measured=1
      if [ "$lockstep_failing" = t ]; then
        echo 'lockstep: warning: WAL archiving is failing: this checkpoint is not restorable until it works again (lockstep status)' >&2
      fi
      ;;
    *)
      # The server is there but did not answer in time (hung): Node would not do better.
      if [ "$lockstep_rc" -gt 128 ]; then
        printf 'why the database did not answer within %s s\n' "$lockstep_psql_s" >> "$lockstep_pending" 2>/dev/null
        echo "lockstep: the database did not answer within $lockstep_psql_s s: this commit is recorded by its time ($lockstep_time) and restored to that moment" >&2
        lockstep_log "the database did not answer within $lockstep_psql_s s; recorded by time"
        lockstep_measured=time
      fi
      ;;
  esac
fi

# What Node does for the measured ones (fold them into the journal with the commit's
# subject, take a base backup when due) happens in the background, one process at a time.
lockstep_fold() {
  lockstep_folder=$lockstep_home/pending/.folding
  # Left by a folder that was killed: a live one finishes within seconds.
  if [ -d "$lockstep_folder" ] && [ -n "$(find "$lockstep_folder" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
    rmdir "$lockstep_folder" 2>/dev/null
  fi
  if mkdir "$lockstep_folder" 2>/dev/null; then
    LOCKSTEP_FOLDING=$lockstep_folder "$@" record --fold </dev/null >/dev/null 2>&1 &
  fi
}

LOCKSTEP_HOOK=post-commit
LOCKSTEP_PENDING=$lockstep_pending
export LOCKSTEP_HOOK LOCKSTEP_PENDING
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
  set --
fi

if [ $# -eq 0 ]; then
  lockstep_why="$lockstep_cli, or a Node.js to run it, is missing; run \`lockstep hook install\` again"
  if [ -n "$lockstep_measured" ]; then
    echo "lockstep: recorded, but $lockstep_why" >&2
  elif [ -n "$lockstep_pending" ]; then
    printf 'why %s\n' "$lockstep_why" >> "$lockstep_pending" 2>/dev/null
    echo "lockstep: this commit is recorded by its time only: $lockstep_why" >&2
  else
    echo "lockstep: this commit was not recorded: $lockstep_why" >&2
  fi
  lockstep_log "$lockstep_why"
elif [ -n "$lockstep_measured" ]; then
  lockstep_fold "$@"
else
  lockstep_bounded "$lockstep_term_s" "$lockstep_kill_s" "$@" record
  if [ $? -gt 128 ]; then
    # Killed before it could say so itself (Node still starting): say it here, and log it as record would.
    lockstep_why="stopped by the commit hook after $lockstep_term_s s"
    if [ -n "$lockstep_pending" ]; then
      printf 'why %s\n' "$lockstep_why" >> "$lockstep_pending" 2>/dev/null
      echo "lockstep: $lockstep_why: this commit is recorded by its time ($lockstep_time) and restored to that moment" >&2
    else
      echo "lockstep: could not record a checkpoint for this commit: $lockstep_why" >&2
    fi
    lockstep_log "$lockstep_why"
  fi
  # Left when the position could not be read: folded in as time-based once this hook is gone.
  if [ -n "$lockstep_pending" ] && [ -f "$lockstep_pending" ]; then
    lockstep_fold "$@"
  fi
fi
exit $lockstep_status
