//! Reading the kernel side's records: plain-old-data structs generated from
//! BTF by the skeletons, and the C strings inside them.

/// Reads a record from the start of a byte slice; None if it is too short.
/// Only for the skeletons' generated `types` (repr(C), integers and arrays
/// of them: every bit pattern is a valid value).
pub(crate) fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: the slice holds at least size_of::<T>() bytes, T is one of the
    // generated plain-old-data types (see above), and read_unaligned copes
    // with the slice's alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// A kernel `char comm[16]`, up to its NUL.
pub(crate) fn comm(raw: &[i8; 16]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
