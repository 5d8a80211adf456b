//! The shape a decoded value may take: how deeply it nests (PROTOCOL.md, rule C5) and how many
//! elements its sequences and maps hold (rule C6).
//!
//! bincode decodes a nested value by recursion and has no depth limit of its own. Protocol
//! messages nest a few levels at most, but the codec also decodes user message fields, and a user
//! type may be recursive (an enum holding `Box<Self>`): each level of such a value takes a byte or
//! two on the wire and a few hundred bytes of the decoding thread's stack, so a peer could send a
//! frame nested deep enough to overflow the stack, which aborts the whole process.
//!
//! bincode also believes a sequence's length prefix: it asks for that many elements, and serde
//! reserves room for up to 1 MiB of them before the first is read. Elements that take no bytes on
//! the wire (unit structs, `Box<()>`) all decode from nothing, so a length of 2^64 would keep the
//! decoder looping, and growing a `Vec`, for as long as the process lives.
//!
//! The codec therefore decodes every value through [`Limited`], which wraps serde's traits (not
//! bincode's): the deserializer, the visitor it calls, and the sequence, map and enum accessors
//! through which nested values are decoded. Every wrapper forwards to the one it wraps, except that
//! - the visitor methods that begin a nested value (`visit_seq`, `visit_map`, `visit_enum`,
//!   `visit_some`, `visit_newtype_struct`) spend one level of the depth budget, and hand what is
//!   left to the wrappers of the values inside;
//! - each element or map entry taken spends one of the value's element budget, shared by all its
//!   sequences and maps;
//! - a sequence's or map's size hint (what serde reserves room for) is at most the body's length.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// The deepest a decoded value may nest (rule C5), counted in containers: each sequence, map,
/// struct, tuple, enum variant, `Some` and newtype struct is one level (so a struct with a `Vec`
/// field of structs is three). Protocol messages use at most 5; serde_json's limit is also 128.
pub(crate) const MAX_DEPTH: usize = 128;

/// How many more elements than the body has bytes the sequences and maps of one value may hold in
/// all (rule C6): room for elements that take no bytes on the wire.
pub(crate) const ELEMENTS_BEYOND_LENGTH: usize = 65_536;

/// Decodes a `T` from a body of `len` bytes within rules C5 and C6: a seed for bincode's
/// `seed_decode_from_slice`.
pub(crate) struct Limited<T> {
    len: usize,
    value: PhantomData<fn() -> T>,
}

impl<T> Limited<T> {
    /// The seed for one value decoded from a body of `len` bytes.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            len,
            value: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Limited<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let budget = Budget {
            elements: Cell::new(self.len.saturating_add(ELEMENTS_BEYOND_LENGTH)),
            hint: self.len,
        };
        T::deserialize(Bounded {
            inner: deserializer,
            left: MAX_DEPTH,
            budget: &budget,
        })
    }
}

/// What the whole value may still take.
struct Budget {
    /// Elements and map entries its sequences and maps may still yield.
    elements: Cell<usize>,
    /// The most elements one sequence or map may announce as its size (the body's length).
    hint: usize,
}

impl Budget {
    /// Takes one element.
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        let left = self.elements.get().checked_sub(1).ok_or_else(|| {
            E::custom("the value holds more elements than its bytes can (PROTOCOL.md, rule C6)")
        })?;
        self.elements.set(left);
        Ok(())
    }

    /// A size hint that serde may reserve room for.
    fn cap(&self, hint: Option<usize>) -> Option<usize> {
        hint.map(|hint| hint.min(self.hint))
    }
}

/// The error for a value nested too deeply, in whatever error type the caller has.
fn too_deep<E: de::Error>() -> E {
    E::custom(format_args!(
        "the value nests deeper than {MAX_DEPTH} levels (PROTOCOL.md, rule C5)"
    ))
}

/// A deserializer whose values may still nest `left` levels.
struct Bounded<'b, D> {
    inner: D,
    left: usize,
    budget: &'b Budget,
}

impl<'b, D> Bounded<'b, D> {
    /// The visitor wrapper for a value of this deserializer.
    fn watch<V>(&self, visitor: V) -> Watch<'b, V> {
        Watch {
            inner: visitor,
            left: self.left,
            budget: self.budget,
        }
    }
}

macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.watch(visitor);
            self.inner.$method(visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any deserialize_bool
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.watch(visitor);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.watch(visitor);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.watch(visitor);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.watch(visitor);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.watch(visitor);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.watch(visitor);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor that spends one level when a nested value begins.
struct Watch<'b, V> {
    inner: V,
    left: usize,
    budget: &'b Budget,
}

impl<'b, V> Watch<'b, V> {
    /// The wrapper of `inner` for the values inside the container being entered, one level down.
    fn enter<A, E: de::Error>(&self, inner: A) -> Result<Inside<'b, A>, E> {
        let left = self.left.checked_sub(1).ok_or_else(too_deep)?;
        Ok(Inside {
            inner,
            left,
            budget: self.budget,
        })
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.inner.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Watch<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool)
        visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
        visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128)
        visit_f32(f32) visit_f64(f64) visit_char(char)
        visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
        visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        let inside = self.enter::<_, D::Error>(deserializer)?;
        self.inner.visit_some(inside.bounded())
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        let inside = self.enter::<_, D::Error>(deserializer)?;
        self.inner.visit_newtype_struct(inside.bounded())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let inside = self.enter::<_, A::Error>(seq)?;
        self.inner.visit_seq(inside)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let inside = self.enter::<_, A::Error>(map)?;
        self.inner.visit_map(inside)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let inside = self.enter::<_, A::Error>(data)?;
        self.inner.visit_enum(inside)
    }
}

/// A deserializer, seed, sequence, map, enum or variant accessor inside a container: the values it
/// gives may still nest `left` levels.
struct Inside<'b, A> {
    inner: A,
    left: usize,
    budget: &'b Budget,
}

impl<'b, A> Inside<'b, A> {
    /// The same budget around `other`.
    fn around<B>(&self, other: B) -> Inside<'b, B> {
        Inside {
            inner: other,
            left: self.left,
            budget: self.budget,
        }
    }

    /// A deserializer inside the container.
    fn bounded(self) -> Bounded<'b, A> {
        Bounded {
            inner: self.inner,
            left: self.left,
            budget: self.budget,
        }
    }

    /// A visitor inside the container.
    fn watch<V>(&self, visitor: V) -> Watch<'b, V> {
        Watch {
            inner: visitor,
            left: self.left,
            budget: self.budget,
        }
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Inside<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        let deserializer = self.around(deserializer).bounded();
        self.inner.deserialize(deserializer)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Inside<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let seed = self.around(seed);
        let element = self.inner.next_element_seed(seed)?;
        if element.is_some() {
            self.budget.spend::<A::Error>()?;
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        self.budget.cap(self.inner.size_hint())
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Inside<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.around(seed);
        let key = self.inner.next_key_seed(seed)?;
        if key.is_some() {
            self.budget.spend::<A::Error>()?;
        }
        Ok(key)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.around(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.budget.cap(self.inner.size_hint())
    }
}

impl<'de, 'b, A: EnumAccess<'de>> EnumAccess<'de> for Inside<'b, A> {
    type Error = A::Error;
    type Variant = Inside<'b, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let seed = self.around(seed);
        let (left, budget) = (self.left, self.budget);
        let (value, variant) = self.inner.variant_seed(seed)?;
        let variant = Inside {
            inner: variant,
            left,
            budget,
        };
        Ok((value, variant))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Inside<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.around(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = self.watch(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = self.watch(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}

#[cfg(test)]
#[path = "tests/shape.rs"]
mod tests;
