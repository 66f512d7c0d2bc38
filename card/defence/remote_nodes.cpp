#include "card/defence/remote_nodes.hpp"

namespace scws::card {

std::size_t encoded_size(const RemoteNodes& n) noexcept {
  return RemoteNodes::kHeaderSize + std::size_t{n.count} * RemoteNodes::kNodeSize;
}

std::size_t encode(const RemoteNodes& n, MutableBytes out) noexcept {
  const std::size_t size = encoded_size(n);
  if (n.count > RemoteNodes::kMax || out.size() < size) return 0;
  ByteWriter w(out);
  w.u8_(RemoteNodes::kVersion);
  w.u8_(n.count);
  for (std::size_t i = 0; i < n.count; ++i) {
    const RemoteNode& node = n.nodes[i];
    w.bytes(Bytes(node.address.data(), node.address.size()));
    w.u8_(node.prefix);
    w.u16_be(node.first_port);
    w.u16_be(node.last_port);
  }
  return w.ok() && w.size() == size ? size : 0;
}

bool decode(Bytes in, RemoteNodes& n) noexcept {
  ByteReader r(in);
  if (r.u8_() != RemoteNodes::kVersion) return false;
  const u8 count = r.u8_();
  if (!r.ok() || count > RemoteNodes::kMax || in.size() != RemoteNodes::kHeaderSize + count * RemoteNodes::kNodeSize)
    return false;
  RemoteNodes d;
  d.count = count;
  for (std::size_t i = 0; i < count; ++i) {
    RemoteNode& node = d.nodes[i];
    const Bytes address = r.take(4);
    if (address.size() != 4) return false;
    for (std::size_t b = 0; b < 4; ++b) node.address[b] = address[b];
    node.prefix = r.u8_();
    node.first_port = r.u16_be();
    node.last_port = r.u16_be();
    if (node.prefix > 32 || node.first_port > node.last_port) return false;
  }
  if (!r.ok() || !r.at_end()) return false;
  n = d;
  return true;
}

Status<NvmError> store_remote_nodes(ObjectStore& objects, const RemoteNodes& n) noexcept {
  std::array<u8, RemoteNodes::kMaxEncodedSize> bytes{};
  const std::size_t size = encode(n, bytes);
  if (size == 0) return fail(NvmError::kOutOfRange);
  RemoteNodes check;
  if (!decode(Bytes(bytes.data(), size), check)) return fail(NvmError::kOutOfRange);  // what load accepts
  TransactionScope txn(objects.nvm());
  SCWS_TRY(txn.begin());
  SCWS_TRY(objects.put(kRemoteNodesObject, Bytes(bytes.data(), size)));
  return txn.commit();
}

Status<NvmError> load_remote_nodes(ObjectStore& objects, RemoteNodes& n) noexcept {
  auto found = objects.find(kRemoteNodesObject);
  if (!found) {
    if (found.error() != NvmError::kNotFound) return fail(found.error());
    n = RemoteNodes{};
    return {};
  }
  std::array<u8, RemoteNodes::kMaxEncodedSize> bytes{};
  if (found->size > bytes.size()) return fail(NvmError::kCorruptData);
  SCWS_TRY(objects.read(kRemoteNodesObject, 0, MutableBytes(bytes.data(), found->size)));
  if (!decode(Bytes(bytes.data(), found->size), n)) return fail(NvmError::kCorruptData);
  return {};
}

}  // namespace scws::card
