"""The C++ core, from whichever of its two builds loads (python/CMakeLists.txt):

- ``_core_arrow``: the ring and loans, linked against the libarrow of the pyarrow wheel it was
  built with. pyarrow is imported first, so the loader binds the extension to the libarrow
  pyarrow has loaded (one copy per process) — and the import fails, cleanly, when the installed
  pyarrow has another soname (version);
- ``_core_ring``: the ring only, no libarrow, any pyarrow. ``Publisher.loan`` then raises
  LoanUnavailableError saying why (``LOAN_UNAVAILABLE``).
"""
import pyarrow  # noqa: F401  (first: see above)

try:
    from . import _core_arrow as native
    LOAN_UNAVAILABLE = None
except ImportError as error:  # not built, or built against another pyarrow than the installed one
    from . import _core_ring as native
    LOAN_UNAVAILABLE = (f"arrowring's loans module did not load ({error}); it needs the pyarrow arrowring "
                        f"was built with (26.0; installed: {pyarrow.__version__}). Install pyarrow==26.0.* or "
                        "rebuild arrowring in this environment: pip install --no-build-isolation .")

LOANS = native.LOANS
# Tables published (publish_table) and read (TableReader) by the C++ layer, taken from and
# handed to pyarrow as they are: _core_arrow built with pyarrow's C++ API.
NATIVE_TABLES = native.NATIVE_TABLES
UNTIL_DROPPED = native.UNTIL_DROPPED
segment_path = native.segment_path
cold_lap_bytes = native.cold_lap_bytes
Handle = native.Handle
WriteSlot = native.WriteSlot
ReadSlot = native.ReadSlot
Subscription = native.Subscription
Ring = native.Ring
CommitNotifier = native.CommitNotifier
if LOANS:
    LoanPublisher = native.LoanPublisher
    Loan = native.Loan
    IpcStream = native.IpcStream
if NATIVE_TABLES:
    TableReader = native.TableReader
    publish_table = native.publish_table
    ipc_stream_of = native.ipc_stream_of

# Pickles name classes by module: name this one, which picks the build that loads here, so a
# Handle pickled by a process with loans unpickles in one without (and the reverse).
for _cls in ((Handle, WriteSlot, ReadSlot, Subscription, Ring, CommitNotifier)
             + ((LoanPublisher, Loan, IpcStream) if LOANS else ())):
    _cls.__module__ = __name__
del _cls
