// Everything a C++ user of arrowring needs, in one include (link arrowring::ipc):
//
//   #include "arrowring/arrowring.h"
//
// the core ring (Ring, slots, handles, errors, the shared layout; ring/) and the Arrow layer
// on it (IPC sizing, writing and zero-copy reading, publish/subscribe, loaned batches, the
// error conversion; ipc/). A program that uses only the core, without Arrow, includes
// "arrowring/ring/ring.h" and links arrowring::ring. These are the installed headers, all of
// them (docs/cpp.md); nothing here includes anything that is not installed.
#pragma once

#include "arrowring/ring/error.h"
#include "arrowring/ring/handle.h"
#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"
#include "arrowring/ring/spin.h"
#include "arrowring/ring/streaming_copy.h"

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/loan.h"
#include "arrowring/ipc/pubsub.h"
#include "arrowring/ipc/record_batch_reader.h"
#include "arrowring/ipc/ring_output_stream.h"
#include "arrowring/ipc/ring_status.h"
#include "arrowring/ipc/stream_decoder.h"
#include "arrowring/ipc/stream_encoder.h"
