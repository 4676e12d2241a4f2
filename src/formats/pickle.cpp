#include "formats/pickle.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>

#include "util/error.h"

namespace weightcast {

namespace {

// The globals a state dict written by torch.save may name. Nothing else is accepted.
const std::set<std::string, std::less<>>& allowed_globals() {
  static const std::set<std::string, std::less<>> names = {
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state",
      "torch._tensor._rebuild_from_type_v2",
      "torch.nn.parameter.Parameter",
      "torch.Tensor",
      "torch.FloatStorage",
      "torch.HalfStorage",
      "torch.BFloat16Storage",
      "torch.DoubleStorage",
      "torch.LongStorage",
      "torch.IntStorage",
      "torch.ShortStorage",
      "torch.CharStorage",
      "torch.ByteStorage",
      "torch.BoolStorage",
      "torch.UntypedStorage",
      "torch.storage.UntypedStorage",
      "torch.storage.TypedStorage",
      "torch.float32",
      "torch.float16",
      "torch.bfloat16",
      "torch.float64",
      "torch.int64",
      "torch.int32",
      "torch.int16",
      "torch.int8",
      "torch.uint8",
      "torch.bool",
  };
  return names;
}

using K = PyValue::Kind;

}  // namespace

const char* kind_name(PyValue::Kind kind) {
  switch (kind) {
    case K::kNone:
      return "None";
    case K::kBool:
      return "bool";
    case K::kInt:
      return "int";
    case K::kFloat:
      return "float";
    case K::kStr:
      return "str";
    case K::kBytes:
      return "bytes";
    case K::kTuple:
      return "tuple";
    case K::kList:
      return "list";
    case K::kDict:
      return "dict";
    case K::kGlobal:
      return "global";
    case K::kStorage:
      return "storage";
    case K::kTensor:
      return "tensor";
    case K::kMark:
      return "mark";
  }
  return "?";
}

Unpickler::Unpickler(std::span<const std::byte> data, std::string label, PersistentLoad load,
                     std::size_t file_size)
    : data_(data),
      label_(std::move(label)),
      persistent_load_(std::move(load)),
      budget_left_(2 * std::max(file_size, data.size()) + (std::size_t{48} << 20)) {}

// Every allocation the pickle causes is charged (never refunded: a pickle that builds and drops
// values is as suspect as one that keeps them).
void Unpickler::charge(std::size_t bytes) {
  if (bytes > budget_left_)
    fail("{}: malformed pickle: it builds more values than a file of its size can describe",
         label_);
  budget_left_ -= bytes;
}

// Containers may nest arbitrarily deep (or even hold themselves). Emptying every one of them
// first makes each destructor trivial: no recursion, no leaked cycles.
Unpickler::~Unpickler() {
  for (auto& v : arena_) {
    v->items.clear();
    v->entries.clear();
  }
}

PyRef Unpickler::make(PyValue::Kind kind) {
  charge(sizeof(PyValue) + 48);  // the value, shared_ptr's control block, its stack slot
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  if (kind == K::kTuple || kind == K::kList || kind == K::kDict) arena_.push_back(v);
  return v;
}

PyRef Unpickler::call(const PyValue& callable, const PyValue& args, int depth) {
  if (depth > 4) fail("{}: malformed pickle: rebuild calls nested too deeply", label_);
  if (callable.kind != K::kGlobal)
    fail("{}: malformed pickle: REDUCE on a {}, not a global", label_, kind_name(callable.kind));
  if (args.kind != K::kTuple)
    fail("{}: malformed pickle: REDUCE arguments are not a tuple", label_);
  const auto& fn = callable.s;
  const auto& a = args.items;
  if (fn == "collections.OrderedDict") return make(K::kDict);
  if (fn == "torch._utils._rebuild_tensor_v2" || fn == "torch._utils._rebuild_tensor") {
    if (a.size() < 4 || a[0]->kind != K::kStorage || a[1]->kind != K::kInt ||
        a[2]->kind != K::kTuple || a[3]->kind != K::kTuple)
      fail("{}: malformed tensor record: {} needs (storage, offset, size, stride)", label_, fn);
    auto t = make(K::kTensor);
    t->tensor.storage = a[0]->storage;
    t->tensor.offset = a[1]->i;
    for (const auto& d : a[2]->items) {
      if (d->kind != K::kInt)
        fail("{}: malformed tensor record: size holds a {}", label_, kind_name(d->kind));
      t->tensor.shape.push_back(d->i);
    }
    for (const auto& d : a[3]->items) {
      if (d->kind != K::kInt)
        fail("{}: malformed tensor record: stride holds a {}", label_, kind_name(d->kind));
      t->tensor.stride.push_back(d->i);
    }
    return t;
  }
  if (fn == "torch._utils._rebuild_parameter" ||
      fn == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != K::kTensor)
      fail("{}: malformed parameter record: {} needs a tensor", label_, fn);
    return a[0];
  }
  if (fn == "torch._tensor._rebuild_from_type_v2") {
    if (a.size() < 3 || a[2]->kind != K::kTuple)
      fail("{}: malformed record: {} needs (function, type, args, ...)", label_, fn);
    return call(*a[0], *a[2], depth + 1);
  }
  fail("{}: refusing to call {} (not a tensor rebuild function)", label_, fn);
}

PyRef Unpickler::load(std::size_t& pos) {
  std::vector<PyRef> stack;
  std::vector<std::size_t> marks;
  std::unordered_map<std::uint64_t, PyRef> memo;
  const std::size_t size = data_.size();

  auto need = [&](std::size_t n) {
    if (n > size - pos)
      fail("{}: truncated pickle: {} more bytes needed at offset {}", label_, n, pos);
  };
  auto read_uint = [&](std::size_t n) {
    need(n);
    std::uint64_t v = 0;
    std::memcpy(&v, data_.data() + pos, n);  // little-endian host
    pos += n;
    return v;
  };
  auto read_bytes = [&](std::uint64_t n) {
    if (n > size - pos) fail("{}: truncated pickle: a {}-byte string runs past the end", label_, n);
    charge(static_cast<std::size_t>(n));
    std::string s(reinterpret_cast<const char*>(data_.data() + pos), static_cast<std::size_t>(n));
    pos += static_cast<std::size_t>(n);
    return s;
  };
  auto read_line = [&] {
    const std::size_t start = pos;
    while (pos < size && data_[pos] != std::byte{'\n'}) ++pos;
    if (pos >= size) fail("{}: truncated pickle: unterminated line at offset {}", label_, start);
    std::string s(reinterpret_cast<const char*>(data_.data() + start), pos - start);
    charge(s.size());
    ++pos;
    return s;
  };
  auto pop = [&] {
    if (stack.empty() || (!marks.empty() && stack.size() <= marks.back()))
      fail("{}: malformed pickle: stack underflow at offset {}", label_, pos);
    PyRef v = std::move(stack.back());
    stack.pop_back();
    return v;
  };
  auto top = [&]() -> PyValue& {
    if (stack.empty()) fail("{}: malformed pickle: stack underflow at offset {}", label_, pos);
    return *stack.back();
  };
  auto pop_mark = [&] {
    if (marks.empty()) fail("{}: malformed pickle: no MARK at offset {}", label_, pos);
    std::vector<PyRef> items(
        std::make_move_iterator(stack.begin() + static_cast<std::ptrdiff_t>(marks.back())),
        std::make_move_iterator(stack.end()));
    stack.resize(marks.back());
    marks.pop_back();
    return items;
  };
  auto push_global = [&](std::string module, std::string name) {
    std::string full = module + "." + name;
    if (!allowed_globals().count(full))
      fail(
          "{}: refusing global {}: only tensor rebuild functions, storage types and dtypes may "
          "appear in a checkpoint (nothing from the file is executed)",
          label_, full);
    auto g = make(K::kGlobal);
    g->s = std::move(full);
    stack.push_back(std::move(g));
  };
  auto push_int = [&](std::int64_t v) {
    auto x = make(K::kInt);
    x->i = v;
    stack.push_back(std::move(x));
  };
  auto push_str = [&](K kind, std::string s) {
    auto x = make(kind);
    x->s = std::move(s);
    stack.push_back(std::move(x));
  };
  auto tuple_of = [&](std::vector<PyRef> items) {
    auto t = make(K::kTuple);
    t->items = std::move(items);
    return t;
  };
  auto set_items = [&](PyValue& dict, std::vector<PyRef>& kv) {
    if (dict.kind != K::kDict)
      fail("{}: malformed pickle: SETITEM on a {}", label_, kind_name(dict.kind));
    if (kv.size() % 2) fail("{}: malformed pickle: odd SETITEMS count", label_);
    charge(kv.size() * 2 * sizeof(PyRef));  // a pair per entry, with the vector's slack
    for (std::size_t i = 0; i < kv.size(); i += 2) dict.entries.emplace_back(kv[i], kv[i + 1]);
  };
  auto append_items = [&](PyValue& list, std::vector<PyRef>& items) {
    if (list.kind != K::kList)
      fail("{}: malformed pickle: APPEND on a {}", label_, kind_name(list.kind));
    charge(items.size() * 2 * sizeof(PyRef));
    for (auto& v : items) list.items.push_back(std::move(v));
  };
  auto memo_get = [&](std::uint64_t idx) {
    auto it = memo.find(idx);
    if (it == memo.end()) fail("{}: malformed pickle: memo index {} out of range", label_, idx);
    charge(2 * sizeof(PyRef));
    stack.push_back(it->second);
  };
  auto memo_put = [&](std::uint64_t idx) {
    if (stack.empty()) fail("{}: malformed pickle: PUT on an empty stack", label_);
    charge(64);  // a hash-map node
    memo[idx] = stack.back();
  };

  for (;;) {
    need(1);
    const auto op = static_cast<unsigned char>(data_[pos++]);
    switch (op) {
      case 0x80:
        read_uint(1);
        break;  // PROTO
      case 0x95:
        read_uint(8);
        break;  // FRAME: framing is transparent here
      case '(':
        charge(2 * sizeof(std::size_t));
        marks.push_back(stack.size());
        break;
      case '.': {  // STOP
        if (stack.size() != 1 || !marks.empty())
          fail("{}: malformed pickle: {} values left at STOP", label_, stack.size());
        return stack.back();
      }
      case '0':
        pop();
        break;
      case '1':
        pop_mark();
        break;
      case '2':
        charge(2 * sizeof(PyRef));
        top(), stack.push_back(stack.back());
        break;
      case 'N':
        stack.push_back(make(K::kNone));
        break;
      case 0x88:
      case 0x89: {
        auto b = make(K::kBool);
        b->b = op == 0x88;
        stack.push_back(std::move(b));
        break;
      }
      case 'J':
        push_int(static_cast<std::int32_t>(read_uint(4)));
        break;
      case 'K':
        push_int(static_cast<std::int64_t>(read_uint(1)));
        break;
      case 'M':
        push_int(static_cast<std::int64_t>(read_uint(2)));
        break;
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const std::uint64_t n = read_uint(op == 0x8a ? 1 : 4);
        std::string raw = read_bytes(n);
        auto x = make(K::kInt);
        if (n <= 8) {
          std::uint64_t v = 0;
          for (std::size_t i = 0; i < n; ++i)
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(raw[i])) << (8 * i);
          if (n > 0 && n < 8 && (static_cast<unsigned char>(raw[n - 1]) & 0x80))
            v |= ~0ull << (8 * n);
          x->i = static_cast<std::int64_t>(v);
        } else {
          x->s = std::move(raw);  // too wide for int64: kept as raw bytes
        }
        stack.push_back(std::move(x));
        break;
      }
      case 'G': {
        std::uint64_t be = read_uint(8), le = 0;
        for (int i = 0; i < 8; ++i) le |= ((be >> (8 * i)) & 0xFF) << (8 * (7 - i));
        auto x = make(K::kFloat);
        std::memcpy(&x->f, &le, 8);
        stack.push_back(std::move(x));
        break;
      }
      case 'X':
        push_str(K::kStr, read_bytes(read_uint(4)));
        break;
      case 0x8c:
        push_str(K::kStr, read_bytes(read_uint(1)));
        break;
      case 0x8d:
        push_str(K::kStr, read_bytes(read_uint(8)));
        break;
      case 'T':
        push_str(K::kBytes, read_bytes(read_uint(4)));
        break;
      case 'U':
        push_str(K::kBytes, read_bytes(read_uint(1)));
        break;
      case 'B':
        push_str(K::kBytes, read_bytes(read_uint(4)));
        break;
      case 'C':
        push_str(K::kBytes, read_bytes(read_uint(1)));
        break;
      case 0x8e:
        push_str(K::kBytes, read_bytes(read_uint(8)));
        break;
      case 0x96:
        push_str(K::kBytes, read_bytes(read_uint(8)));
        break;
      case ')':
        stack.push_back(tuple_of({}));
        break;
      case 't':
        stack.push_back(tuple_of(pop_mark()));
        break;
      case 0x85: {
        auto a = pop();
        stack.push_back(tuple_of({a}));
        break;
      }
      case 0x86: {
        auto b = pop(), a = pop();
        stack.push_back(tuple_of({a, b}));
        break;
      }
      case 0x87: {
        auto c = pop(), b = pop(), a = pop();
        stack.push_back(tuple_of({a, b, c}));
        break;
      }
      case ']':
      case 0x8f:
        stack.push_back(make(K::kList));
        break;  // EMPTY_LIST, EMPTY_SET
      case 'l':
      case 0x91: {  // LIST, FROZENSET
        auto l = make(K::kList);
        l->items = pop_mark();
        stack.push_back(std::move(l));
        break;
      }
      case '}':
        stack.push_back(make(K::kDict));
        break;
      case 'd': {
        auto kv = pop_mark();
        auto d = make(K::kDict);
        set_items(*d, kv);
        stack.push_back(std::move(d));
        break;
      }
      case 'a': {
        std::vector<PyRef> v{pop()};
        append_items(top(), v);
        break;
      }
      case 'e':
      case 0x90: {  // APPENDS, ADDITEMS
        auto v = pop_mark();
        append_items(top(), v);
        break;
      }
      case 's': {
        auto value = pop(), key = pop();
        std::vector<PyRef> kv{key, value};
        set_items(top(), kv);
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'h':
        memo_get(read_uint(1));
        break;
      case 'j':
        memo_get(read_uint(4));
        break;
      case 'q':
        memo_put(read_uint(1));
        break;
      case 'r':
        memo_put(read_uint(4));
        break;
      case 0x94:
        memo_put(memo.size());
        break;
      case 'c': {
        std::string module = read_line();
        push_global(std::move(module), read_line());
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop(), module = pop();
        if (module->kind != K::kStr || name->kind != K::kStr)
          fail("{}: malformed pickle: STACK_GLOBAL needs two strings", label_);
        push_global(module->s, name->s);
        break;
      }
      case 'R': {
        auto args = pop(), fn = pop();
        stack.push_back(call(*fn, *args, 0));
        break;
      }
      case 0x81: {  // NEWOBJ: only OrderedDict() is a class we build
        auto args = pop(), cls = pop();
        if (cls->kind != K::kGlobal || cls->s != "collections.OrderedDict")
          fail("{}: refusing to instantiate {}", label_,
               cls->kind == K::kGlobal ? cls->s : kind_name(cls->kind));
        stack.push_back(make(K::kDict));
        break;
      }
      case 'b':
        pop();
        top();
        break;     // BUILD: object state (e.g. _metadata) is not needed
      case 'Q': {  // BINPERSID
        auto pid = pop();
        auto st = make(K::kStorage);
        st->storage = persistent_load_(*pid);
        stack.push_back(std::move(st));
        break;
      }
      default:
        fail("{}: unsupported or invalid pickle opcode 0x{:02x} at offset {}", label_, op, pos - 1);
    }
  }
}

}  // namespace weightcast
