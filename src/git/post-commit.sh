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
lockstep_psql_s=1.5
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
# Also in ms since the epoch, to tell whether another hook's reading was taken after it.
lockstep_now=$(date -u '+%Y-%m-%dT%H:%M:%S.%3NZ %s%3N' 2>/dev/null)
lockstep_time=${lockstep_now% *}
lockstep_ms=${lockstep_now#* }
case $lockstep_now in
  *N*|'') lockstep_time=$(date -u +%Y-%m-%dT%H:%M:%S.000Z) lockstep_ms= ;; # no %N (BusyBox, macOS): whole seconds, no sharing
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

# The position could not be read: the spool entry stands, time-based, with the reason; one line, one log entry.
lockstep_by_time() {
  if [ -n "$lockstep_pending" ]; then
    printf 'why %s\n' "$1" >> "$lockstep_pending" 2>/dev/null
    echo "lockstep: $1: this commit is recorded by its time ($lockstep_time) and restored to that moment" >&2
    lockstep_log "$1; recorded by time"
  else
    echo "lockstep: could not record a checkpoint for this commit: $1" >&2
    lockstep_log "$1"
  fi
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

# Writes spool file $1: sha $2, moment $3 (ISO) and $5 (ms), ref $4, and when measured
# timeline $6 and lsn $7. One printf, in place: a reader that catches it half-written
# sees no `end` line and looks again later (src/core/pending.ts reads it).
lockstep_spool() {
  if [ $# -ge 7 ]; then
    printf 'lockstep-pending 1\nsha %s\ntime %s\nref %s\nms %s\ntimeline %s\nlsn %s\nend\n' "$2" "$3" "$4" "$5" "$6" "$7" > "$1" 2>/dev/null
  else
    printf 'lockstep-pending 1\nsha %s\ntime %s\nref %s\nms %s\nend\n' "$2" "$3" "$4" "$5" > "$1" 2>/dev/null
  fi
}

if [ ! -d "$lockstep_home" ] || [ -z "$lockstep_sha" ]; then
  # Not set up here (or HEAD unreadable): `lockstep record` says why, as before.
  lockstep_pending=
else
  # The pairing first. Written in one printf; readers skip a file without its `end` line.
  [ -d "$lockstep_home/pending" ] || mkdir -p "$lockstep_home/pending" 2>/dev/null
  lockstep_pending=$lockstep_home/pending/$lockstep_sha.$$
  lockstep_spool "$lockstep_pending" "$lockstep_sha" "$lockstep_time" "$lockstep_ref" "$lockstep_ms" || lockstep_pending=
fi

# One psql reading: prints "walfile lsn archiving-failing". The WAL file's name carries the timeline.
lockstep_psql_once() {
  PGHOST=$lockstep_host PGPORT=$lockstep_port PGUSER=$lockstep_user PGDATABASE=$lockstep_db \
    PGPASSFILE=$lockstep_passfile PGCONNECT_TIMEOUT=2 PGAPPNAME=lockstep-hook PGOPTIONS= PSQLRC=/dev/null PGREQUIREAUTH=scram-sha-256 \
    lockstep_bounded "$lockstep_psql_s" 0.2 "$lockstep_psql" -XAtqw -F ' ' -c \
    "SELECT pg_walfile_name(l), l, coalesce(a.last_failed_time > coalesce(a.last_archived_time, '-infinity'), false)
       FROM pg_current_wal_insert_lsn() AS l LEFT JOIN pg_stat_archiver a ON true" 2>/dev/null
}

# Reads one spool file into lockstep_e_* (sha, time, ref, ms, lsn).
lockstep_entry() {
  lockstep_e_sha= lockstep_e_time= lockstep_e_ref= lockstep_e_ms= lockstep_e_lsn= lockstep_e_end=
  while IFS=' ' read -r lockstep_key lockstep_value; do
    case $lockstep_key in
      sha) lockstep_e_sha=$lockstep_value ;;
      time) lockstep_e_time=$lockstep_value ;;
      ref) lockstep_e_ref=$lockstep_value ;;
      ms) lockstep_e_ms=$lockstep_value ;;
      lsn) lockstep_e_lsn=$lockstep_value ;;
      end) lockstep_e_end=1 ;;
    esac
  done < "$1" 2>/dev/null
}

# Gives reading $2 ("walfile lsn failing", started at ms $1) to every spooled commit
# made before it started and not measured yet: this hook's and other hooks'.
# Returns 0 when a commit made after it started is still waiting.
lockstep_assign() {
  lockstep_a_tl=${2%% *}
  lockstep_a_tl=$((0x${lockstep_a_tl%????????????????}))
  lockstep_a_lsn=${2#* }
  lockstep_a_lsn=${lockstep_a_lsn%% *}
  lockstep_newer=1
  for lockstep_file in "$lockstep_home"/pending/*.[0-9]*; do
    [ -f "$lockstep_file" ] || continue
    lockstep_entry "$lockstep_file"
    [ -n "$lockstep_e_end" ] && [ -z "$lockstep_e_lsn" ] && [ -n "$lockstep_e_ms" ] || continue
    if [ "$lockstep_e_ms" -le "$1" ]; then
      lockstep_spool "$lockstep_file" "$lockstep_e_sha" "$lockstep_e_time" "$lockstep_e_ref" "$lockstep_e_ms" "$lockstep_a_tl" "$lockstep_a_lsn"
    else
      lockstep_newer=0
    fi
  done
  return $lockstep_newer
}

# Reads the position for this commit: sets lockstep_row and lockstep_rc, or
# lockstep_deferred when another hook is reading. Commits made at once share
# readings: one hook reads, gives the reading to every commit spooled before it
# started (a reading taken after a commit is as good as the commit's own), and
# reads again while newer commits wait, within its budget; the others return at
# once. So twenty commits cost a few psql runs, and only one hook waits for them.
lockstep_position() {
  lockstep_row= lockstep_rc=1 lockstep_deferred=
  if [ -z "$lockstep_ms" ]; then
    lockstep_row=$(lockstep_psql_once)
    lockstep_rc=$?
    return
  fi
  lockstep_reading=$lockstep_home/pending/.reading
  if ! mkdir "$lockstep_reading" 2>/dev/null; then
    # A reader that was killed leaves its directory behind: take it over.
    lockstep_reader=
    [ -f "$lockstep_reading/pid" ] && IFS= read -r lockstep_reader < "$lockstep_reading/pid" 2>/dev/null
    if [ -n "$lockstep_reader" ] && ! kill -0 "$lockstep_reader" 2>/dev/null; then
      rm -rf "$lockstep_reading" 2>/dev/null
    fi
    if ! mkdir "$lockstep_reading" 2>/dev/null; then
      lockstep_deferred=1
      return
    fi
  fi
  echo $$ > "$lockstep_reading/pid" 2>/dev/null
  lockstep_start=$lockstep_ms
  while :; do
    lockstep_row=$(lockstep_psql_once)
    lockstep_rc=$?
    [ "$lockstep_rc" -eq 0 ] || break
    lockstep_assign "$lockstep_start" "$lockstep_row" || break
    # Commits made while we read: once more, if the budget allows.
    lockstep_start=$(date +%s%3N)
    [ "$lockstep_start" -lt $((lockstep_ms + 900)) ] || break
  done
  rm -rf "$lockstep_reading" 2>/dev/null
  # A hook that found the directory just before we removed it returned: its commit
  # was spooled before that, so this last look sees it; read for it if we still may.
  if [ "$lockstep_rc" -eq 0 ] && lockstep_assign "$lockstep_start" "$lockstep_row"; then
    lockstep_start=$(date +%s%3N)
    if [ "$lockstep_start" -lt $((lockstep_ms + 900)) ] && mkdir "$lockstep_reading" 2>/dev/null; then
      echo $$ > "$lockstep_reading/pid" 2>/dev/null
      lockstep_again=$(lockstep_psql_once) && lockstep_assign "$lockstep_start" "$lockstep_again"
      rm -rf "$lockstep_reading" 2>/dev/null
    fi
  fi
  # Commits still waiting when the budget is spent stay time-based (unless a later hook reads for them): say why.
  for lockstep_file in "$lockstep_home"/pending/*.[0-9]*; do
    [ -f "$lockstep_file" ] || continue
    lockstep_entry "$lockstep_file"
    if [ -n "$lockstep_e_end" ] && [ -z "$lockstep_e_lsn" ] && [ "$lockstep_file" != "$lockstep_pending" ]; then
      printf 'why the position was not read within the commit hook budget while other commits were recorded at once\n' >> "$lockstep_file" 2>/dev/null
    fi
  done
}

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
  lockstep_position
  lockstep_walfile=${lockstep_row%% *}
  lockstep_rest=${lockstep_row#* }
  lockstep_lsn=${lockstep_rest%% *}
  lockstep_failing=${lockstep_rest#* }
  lockstep_entry "$lockstep_pending"
  if [ -n "$lockstep_deferred" ]; then
    # Another hook reads for this commit too: nothing to wait for here.
    lockstep_measured=deferred
  elif [ -n "$lockstep_e_lsn" ]; then
    lockstep_measured=1 # given a reading while this hook read for others
  else
    case $lockstep_rc:$lockstep_walfile:$lockstep_lsn in
      0:[0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F]*:*/*)
        lockstep_tl=${lockstep_walfile%????????????????}
        lockstep_tl=$((0x$lockstep_tl))
        lockstep_spool "$lockstep_pending" "$lockstep_sha" "$lockstep_time" "$lockstep_ref" "$lockstep_ms" "$lockstep_tl" "$lockstep_lsn" && lockstep_measured=1
        ;;
      *)
        # The server is there but did not answer in time (hung): Node would not do better.
        if [ "$lockstep_rc" -gt 128 ]; then
          lockstep_by_time "the database did not answer within $lockstep_psql_s s (it hangs, or this machine is too busy)"
          lockstep_measured=time
        fi
        ;;
    esac
  fi
  if [ "$lockstep_measured" = 1 ] && [ "$lockstep_failing" = t ]; then
    echo 'lockstep: warning: WAL archiving is failing: this checkpoint is not restorable until it works again (lockstep status)' >&2
  fi
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
    # A second later and at low priority: commits still running (twenty at once, say) come first.
    (sleep 1; LOCKSTEP_FOLDING=$lockstep_folder exec nice -n 10 "$@" record --fold) </dev/null >/dev/null 2>&1 &
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
    lockstep_log "$lockstep_why"
  else
    lockstep_by_time "$lockstep_why"
  fi
elif [ -n "$lockstep_measured" ]; then
  lockstep_fold "$@"
else
  lockstep_bounded "$lockstep_term_s" "$lockstep_kill_s" "$@" record
  if [ $? -gt 128 ]; then
    # Killed before it could say so itself (Node still starting): say it here, and log it as record would.
    lockstep_by_time "stopped by the commit hook after $lockstep_term_s s"
  fi
  # Left when the position could not be read: folded in as time-based once this hook is gone.
  if [ -n "$lockstep_pending" ] && [ -f "$lockstep_pending" ]; then
    lockstep_fold "$@"
  fi
fi
exit $lockstep_status
