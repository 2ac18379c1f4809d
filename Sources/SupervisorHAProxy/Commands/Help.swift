// The program's usage and help: every command in one synopsis, and `listen`'s options (the
// default command, the Python original's command line). `wrap --help` and `restart --help`
// have their own, beside their parsers.

let usage = """
    usage: supervisor-haproxy [listen] [OPTIONS] SOCKET PROGRAM:BACKEND/SERVER...
           supervisor-haproxy [listen] [OPTIONS] --socket SOCKET [--socket SOCKET...] PROGRAM:BACKEND/SERVER...
           supervisor-haproxy [listen] [OPTIONS] --agent ADDR:PORT [SOCKET] PROGRAM:BACKEND/SERVER[@ADDR:PORT]...
           supervisor-haproxy check [OPTIONS] SOCKET PROGRAM:BACKEND/SERVER...
           supervisor-haproxy wrap [OPTIONS] SOCKET BACKEND/SERVER... -- COMMAND [ARG...]
           supervisor-haproxy restart [--rolling] [OPTIONS] NAME...
           supervisor-haproxy stop|start [OPTIONS] NAME...
    """

let help = usage + """


    Commands:
      listen    (the default) a supervisord event listener; see below
      check     the same as --check: every mapped server on every socket, its state
      wrap      run COMMAND as a program of supervisord, draining its servers in HAProxy
                before a stop signal reaches it; 'supervisor-haproxy wrap --help'
      restart   stop then start supervisord's processes, draining first and waiting
                until HAProxy sees them UP; --rolling one at a time; 'restart --help'
      stop      drain, then stop, as supervisorctl stop
      start     start, then wait until HAProxy sees the server UP

    listen: a supervisord event listener (events = PROCESS_STATE) that sets HAProxy servers to
    ready, drain or maint through HAProxy's admin-level stats socket as the programs
    behind them start, stop or die, and keeps HAProxy matching supervisord.

    SOCKET    tcp://HOST:PORT, tcp://[IPV6]:PORT, unix:///PATH, ipv4@HOST:PORT,
              ipv6@[ADDR]:PORT, unix@/PATH or /PATH
    PROGRAM:BACKEND/SERVER
              SERVER is what follows the last '/'; PROGRAM and BACKEND split at the last
              ':' before it. PROGRAM is a process name (any group) or group:process.
              A program may be mapped to several servers; all of them follow it.
              @ADDR:PORT after SERVER: where the program serves, probed before the
              agent calls it ready.

    State table: RUNNING -> ready; STOPPING -> drain; STARTING, BACKOFF, EXITED,
    STOPPED, FATAL, UNKNOWN -> maint.

    Readiness gate: supervisord says RUNNING before an application server listens, and
    HAProxy puts a server leaving maint UP at once. So a server goes from maint to ready only
    once its program serves: one that HAProxy checks waits in drain with its health forced
    down until its check passes; one without a check waits in maint until its address
    (show stat's addr) accepts a connection.

    Agent check (--agent): every HAProxy that polls the port (agent-check, agent-send
    "BACKEND/SERVER\\n") is answered the state the listener wants for that server: ready,
    drain or maint. No admin socket need be exposed; each answer restores what a reload
    forgot. A server wanted ready is answered ready once @ADDR:PORT accepts a connection.

    Options:
      --socket SOCKET       a stats socket; repeat for several HAProxy instances. When
                            given, every positional argument is a mapping
      --agent ADDR:PORT     answer HAProxy's agent checks there (repeatable); with it, a
                            SOCKET is optional. The port takes no orders: whoever reaches
                            it learns a state word, nothing more
      --agent-pollers ADDR[/BITS],...
                            the load balancers' addresses: only their polls count toward
                            "every HAProxy was told"; any other poll is answered
                            unlisted-poller (default: any client that polls counts)
      --state-file PATH     keep HAProxy's server-state-file (with one SOCKET): rewritten
                            after each change HAProxy took, so a reload starts from it
      --timeout SECONDS     bound on one exchange with HAProxy or supervisord:
                            connect, send, answer (default 2)
      --retry-max SECONDS   longest wait between retries of a change HAProxy did not
                            take; retries start at 0.5 s and double (default 30;
                            0 turns retries off)
      --resync SECONDS      read 'show servers state' this often and repair what HAProxy
                            forgot or lets through; a drain or maint somebody else set
                            is left alone (default 30; 0 turns it off)
      --reload-check SECONDS
                            read 'show info' this often to notice an HAProxy reload or
                            restart and repair at once (default 1; 0 turns it off)
      --supervisor URL      supervisord to ask for every process's state at start
                            (unix:///PATH or http://[USER:PASSWORD@]HOST:PORT; default
                            $SUPERVISOR_SERVER_URL; 'none' turns start-up sync off)
      --on STATE=ACTION     override the state table; ACTION is ready, drain, maint or
                            ignore (repeatable), e.g. --on STOPPING=maint
      --ready-when WHEN     when a server leaving maint is set ready: check (HAProxy's
                            check passed, or a connect to a server without one; the
                            default), connect (its address accepts a connection) or
                            running (at RUNNING, as the original tool)
      --ready-timeout SECONDS
                            say in the log which server is still not serving after this
                            long, and what HAProxy showed (default 60; it stays out)
      --check               check that every mapped server exists on every socket, print
                            each one's state, exit 0 if all is well and 1 if not
      --dry-run             speak the protocol and log the commands; send none
      --quiet               log errors only
      --verbose             also log ignored events, HAProxy's answers and retries
      --help                show this help
      --version             show the version

    On SIGTERM (supervisord stopping it) the listener asks supervisord what it is doing:
    shutting down, restarting or gone, every mapped server goes to maint first; running (only
    the listener restarts) or refusing to say (401, a hang), HAProxy is left as it is. At end
    of input, what was acknowledged is sent first. supervisord's credentials: from the URL,
    SUPERVISOR_USERNAME/SUPERVISOR_PASSWORD, else supervisord's own config file (its -c).

    Exit status: 0 at end of input; 1 on a protocol error from supervisord or a failed
    --check; 2 on invalid arguments; death by the signal that stopped it.
    """
