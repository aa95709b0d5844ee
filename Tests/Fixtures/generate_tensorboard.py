#!/usr/bin/env python3
"""Writes Tests/Fixtures/tensorboard/: an event file made by TensorBoard's own Python writer
(tensorboard.summary.writer.event_file_writer.EventFileWriter) and events.json, what each of its records holds.

Run with TensorBoard from PyPI (pinned):
    pip install "tensorboard==2.21.0"; python Tests/Fixtures/generate_tensorboard.py
The Swift tests decode the file with their own reader (record framing, masked CRC-32C, protobuf fields), compare
every record with events.json, and compare SwiftCPC's encoding of the same events with these bytes.
"""
import glob
import json
import os
import shutil
import tempfile

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensorboard")
os.makedirs(here, exist_ok=True)
folder = tempfile.mkdtemp()
writer = EventFileWriter(folder)
expected = []

# Scalars as the trainer logs them: several tags per step, sorted by tag; zero and negative values, a tiny and a
# huge one, step 0 (left out of the message as proto3 does) and a step beyond 32 bits.
scalar_events = [
    (1733300000.25, 0, [("accuracy_k1", 0.0), ("loss", 4.1743)]),
    (1733300001.5, 10, [("learning_rate", 0.0002), ("loss", 3.25), ("mi_bound_k1", -1.5)]),
    (1733300002.75, 250, [("samples_per_second", 12345.678), ("validation_loss", 1e-20)]),
    (1733300003.0, 123456789012, [("loss", 3.0e38)]),
]
for wall_time, step, values in scalar_events:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=t, simple_value=v) for t, v in values])
    writer.add_event(event_pb2.Event(wall_time=wall_time, step=step, summary=summary))
    expected.append({"kind": "scalars", "wall_time": wall_time, "step": step,
                     "values": [{"tag": t, "value": v} for t, v in values]})

# What a resumed run writes: SessionLog START at the first step after its checkpoint.
writer.add_event(event_pb2.Event(wall_time=1733300004.5, step=201,
                                 session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))
expected.append({"kind": "session_start", "wall_time": 1733300004.5, "step": 201})
writer.close()

(path,) = glob.glob(os.path.join(folder, "events.out.tfevents.*"))
shutil.copyfile(path, os.path.join(here, "fixture.tfevents"))
shutil.rmtree(folder)
with open(os.path.join(here, "events.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_tensorboard.py", "first": "file_version brain.Event:2",
               "events": expected}, f, indent=1)
print("wrote", len(expected) + 1, "records")
