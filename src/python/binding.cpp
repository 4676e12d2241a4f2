// The Python binding (module weightcast._weightcast): the library's convert_weight with the GIL
// released, Ctrl-C turned into cancellation, and the library's errors raised as the Python
// exceptions MLC raises. python/weightcast/__init__.py is the public face.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "arch/gguf/view.h"
#include "formats/detect.h"
#include "weightcast/weightcast.h"

namespace nb = nanobind;

namespace {

// Calls a Python callable from a worker thread. An exception in it must not unwind through the
// converter: it is reported as unraisable and the conversion goes on.
void call_python(nb::handle fn, nb::handle arg) {
  nb::gil_scoped_acquire gil;
  try {
    fn(arg);
  } catch (nb::python_error& e) {
    e.discard_as_unraisable("weightcast progress/log callback");
  }
}

weightcast::ConvertOptions make_options(const std::string& round_mode, unsigned threads,
                                        unsigned tensor_parallel_shards, bool dry_run, bool sync,
                                        std::size_t stream_mib, nb::handle on_log,
                                        nb::handle on_progress) {
  weightcast::ConvertOptions options;
  if (round_mode == "ties-away")
    options.round_mode = weightcast::RoundMode::kTiesAway;
  else if (round_mode != "ties-even")
    throw weightcast::ValueError("round_mode must be 'ties-even' or 'ties-away', got '" +
                                 round_mode + "'");
  options.threads = threads;
  options.tensor_parallel_shards = tensor_parallel_shards;
  options.dry_run = dry_run;
  options.sync = sync;
  options.stream_records_from = stream_mib << 20;
  // Non-owning handles: the library copies these functions on its threads, where touching a
  // reference count without the GIL is not allowed; the caller's arguments keep them alive.
  if (!on_log.is_none())
    options.on_log = [fn = on_log](std::string_view line) {
      nb::gil_scoped_acquire gil;
      call_python(fn, nb::str(line.data(), line.size()));
    };
  if (!on_progress.is_none())
    options.on_progress = [fn = on_progress](const weightcast::Progress& p) {
      nb::gil_scoped_acquire gil;
      nb::dict d;
      d["done"] = p.done;
      d["total"] = p.total;
      d["name"] = nb::str(p.name.data(), p.name.size());
      d["bytes_done"] = p.bytes_done;
      d["bytes_total"] = p.bytes_total;
      call_python(fn, d);
    };
  return options;
}

// Runs `work` on its own thread with the GIL released, while this thread looks for Ctrl-C
// (Python runs signal handlers only on the main thread, between bytecodes) a few times a second
// and, on one, sets `cancel` and raises KeyboardInterrupt once `work` has stopped.
template <typename Work>
void run_interruptibly(std::atomic<bool>& cancel, Work work) {
  std::exception_ptr error;
  bool interrupted = false;
  {
    nb::gil_scoped_release release;
    std::mutex mutex;
    std::condition_variable finished_cv;
    bool finished = false;
    std::thread worker([&] {
      try {
        work();
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(mutex);
      finished = true;
      finished_cv.notify_all();
    });
    std::unique_lock lock(mutex);
    while (!finished_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return finished; })) {
      lock.unlock();
      {
        nb::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {  // a KeyboardInterrupt (or a handler's exception)
          PyErr_Clear();
          interrupted = true;
          cancel.store(true);
        }
      }
      lock.lock();
    }
    lock.unlock();
    worker.join();
  }
  if (interrupted) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw nb::python_error();
  }
  if (error) std::rethrow_exception(error);
}

nb::dict convert(const std::string& config, const std::string& quantization,
                 const std::string& model, const std::string& device, const std::string& source,
                 const std::string& source_format, const std::string& output,
                 const std::string& round_mode, unsigned threads, unsigned tensor_parallel_shards,
                 bool dry_run, bool sync, std::size_t stream_mib, nb::object on_log,
                 nb::object on_progress, const std::string& lora_adapter, bool strict,
                 bool dequantize_fp8, bool direct_io) {
  std::atomic<bool> cancel{false};
  auto options = make_options(round_mode, threads, tensor_parallel_shards, dry_run, sync,
                              stream_mib, on_log, on_progress);
  options.cancel = &cancel;
  options.lora_adapter = lora_adapter;
  options.strict = strict;
  options.dequantize_fp8 = dequantize_fp8;
  options.direct_io = direct_io;
  weightcast::ConvertStats stats;
  run_interruptibly(cancel, [&] {
    stats = weightcast::convert_weight(config, quantization, model, device, source, source_format,
                                       output, options);
  });
  nb::dict out;
  out["param_count"] = stats.param_count;
  out["param_bytes"] = stats.param_bytes;
  out["total_params"] = stats.total_params;
  out["bits_per_param"] = stats.bits_per_param;
  out["shard_count"] = stats.shard_count;
  out["plan_seconds"] = stats.plan_seconds;
  out["compute_seconds"] = stats.compute_seconds;
  out["write_seconds"] = stats.write_seconds;
  out["total_seconds"] = stats.total_seconds;
  nb::list nonfinite;  // source tensors holding NaN or infinity (docs/verify.md)
  for (const auto& n : stats.nonfinite) {
    nb::dict d;
    d["tensor"] = n.tensor;
    d["nan"] = n.nan;
    d["inf"] = n.inf;
    nonfinite.append(d);
  }
  out["nonfinite_sources"] = nonfinite;
  // A pre-quantized source requantized (docs/source-formats.md#requantization-error).
  out["requantized_params"] = stats.requantized_params;
  out["requant_error_median"] = stats.requant_error_median;
  out["requant_error_worst"] = stats.requant_error_worst;
  out["requant_error_worst_param"] = stats.requant_error_worst_param;
  return out;
}

// weightcast.inspect(): the checkpoint's tensors as data (name, dtype, shape, file, under the
// names the converter reads), with the CLI's text description beside them.
nb::dict inspect(const std::string& path) {
  nb::dict out;
  out["path"] = path;
  out["text"] = weightcast::inspect(path);
  const std::filesystem::path p(path);
  const auto source = weightcast::detect_weight(path, p.parent_path() / "config.json", "auto");
  const auto checkpoint = weightcast::open_checkpoint(source, weightcast::open_gguf_checkpoint);
  out["format"] = source.format;
  nb::list files, tensors;
  for (const auto& f : checkpoint->files()) {
    files.append(f->path().string());
    for (const auto& t : f->tensors()) {
      nb::dict d;
      d["name"] = t.name;
      d["dtype"] = std::string(weightcast::tvm_name(t.dtype));
      nb::list shape;
      for (auto dim : t.shape) shape.append(dim);
      d["shape"] = shape;
      d["file"] = f->path().string();
      tensors.append(d);
    }
  }
  out["files"] = files;
  out["tensors"] = tensors;
  return out;
}

// weightcast.verify(): the report's JSON text (docs/verify.md#json); Python parses it.
std::string verify(const std::string& pack, const std::string& against,
                   const std::string& quantization, unsigned threads) {
  nb::gil_scoped_release release;
  return weightcast::verify(pack, {against, quantization, threads}).json;
}

}  // namespace

NB_MODULE(_weightcast, m) {
  m.doc() = "weightcast's C++ core; use the weightcast package, not this module";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const weightcast::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const weightcast::IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const weightcast::Interrupted& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const weightcast::Error& e) {  // ValueError and the rest: MLC raises ValueError
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("convert", &convert, nb::arg("config"), nb::arg("quantization"), nb::arg("model"),
        nb::arg("device"), nb::arg("source"), nb::arg("source_format"), nb::arg("output"),
        nb::arg("round_mode"), nb::arg("threads"), nb::arg("tensor_parallel_shards"),
        nb::arg("dry_run"), nb::arg("sync"), nb::arg("stream_mib"), nb::arg("on_log").none(),
        nb::arg("on_progress").none(), nb::arg("lora_adapter") = "", nb::arg("strict") = false,
        nb::arg("dequantize_fp8") = false, nb::arg("direct_io") = false);
  m.def("inspect", &inspect);
  m.def("verify", &verify);
  m.def("quantization_names", &weightcast::quantization_names);
  m.def("model_types", &weightcast::model_types);
  m.def("source_formats", &weightcast::source_formats);
}
