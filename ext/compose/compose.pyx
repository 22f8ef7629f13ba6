# cython: language_level=3
"""lb._compose: one YAML document to plain Python data, fast, through libyaml's events.

The fast path of lb.config.loader. It serves the YAML that manifests are made of (block
and flow collections, plain and quoted scalars, comments) and gives up, returning None,
on anything whose meaning it would have to re-implement: anchors and aliases, explicit
tags, merge keys (<<), duplicate keys, non-scalar keys, more than max_nodes nodes, or a
syntax error. The loader then composes that document with PyYAML, which also words the
errors. Scalars mean what PyYAML's SafeLoader says: plain scalars that could be a bool,
null, number or timestamp go to `resolve(text)`, which the loader builds from PyYAML's
own resolver; plain text that starts with a letter no such scalar starts with, decimal
integers and dotted quads are decided here.
"""
from libc.stddef cimport size_t
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8

cdef extern from "yaml.h" nogil:
    ctypedef unsigned char yaml_char_t
    ctypedef struct yaml_mark_t:
        size_t index
        size_t line
        size_t column
    ctypedef enum yaml_event_type_t:
        YAML_NO_EVENT
        YAML_STREAM_START_EVENT
        YAML_STREAM_END_EVENT
        YAML_DOCUMENT_START_EVENT
        YAML_DOCUMENT_END_EVENT
        YAML_ALIAS_EVENT
        YAML_SCALAR_EVENT
        YAML_SEQUENCE_START_EVENT
        YAML_SEQUENCE_END_EVENT
        YAML_MAPPING_START_EVENT
        YAML_MAPPING_END_EVENT
    ctypedef enum yaml_scalar_style_t:
        YAML_ANY_SCALAR_STYLE
        YAML_PLAIN_SCALAR_STYLE
    # Only the members read here; the C compiler knows the real layout (unions included).
    ctypedef struct _scalar_data:
        yaml_char_t *anchor
        yaml_char_t *tag
        yaml_char_t *value
        size_t length
        int plain_implicit
        int quoted_implicit
        yaml_scalar_style_t style
    ctypedef struct _collection_data:
        yaml_char_t *anchor
        yaml_char_t *tag
        int implicit
    ctypedef struct _event_data:
        _scalar_data scalar
        _collection_data sequence_start
        _collection_data mapping_start
    ctypedef struct yaml_event_t:
        yaml_event_type_t type
        _event_data data
        yaml_mark_t start_mark
    ctypedef struct yaml_parser_t:
        pass
    int yaml_parser_initialize(yaml_parser_t *parser)
    void yaml_parser_delete(yaml_parser_t *parser)
    void yaml_parser_set_input_string(yaml_parser_t *parser, const unsigned char *input, size_t size)
    int yaml_parser_parse(yaml_parser_t *parser, yaml_event_t *event)
    void yaml_event_delete(yaml_event_t *event)


class GiveUp(Exception):
    """The document needs PyYAML (see the module docstring)."""


cdef extern from "Python.h":
    void PyUnicode_InternInPlace(PyObject **p)


# Short scalars are interned: keys, namespaces, protocols, families and endpoint addresses
# repeat across thousands of objects, and the model keeps the values (one string instead of
# one per object; interned keys also compare by pointer in the dict lookups that follow).
cdef enum:
    INTERN_MAX = 24


cdef inline object _text(const yaml_char_t *v, size_t n):
    cdef object s = PyUnicode_DecodeUTF8(<const char *>v, n, "strict")
    cdef PyObject *p
    if n <= INTERN_MAX:
        p = <PyObject *>s
        Py_INCREF(s)                # InternInPlace may swap p for the interned copy
        PyUnicode_InternInPlace(&p)
        s = <object>p
        Py_DECREF(s)
    return s


cdef object _plain(const yaml_char_t *v, size_t n, object resolve):
    """A plain scalar's value, as PyYAML's SafeLoader reads it."""
    cdef unsigned char c
    cdef size_t i, dots = 0
    cdef bint digits = True
    if n == 0:
        return None
    c = v[0]
    # bool (yes/no/true/false/on/off), null (~, null) and numbers start with one of these
    if (97 <= c <= 122 or 65 <= c <= 90) and c not in b"yYnNtTfFoO":
        return _text(v, n)
    if 48 <= c <= 57:
        for i in range(n):
            c = v[i]
            if c == 46:
                dots += 1
            elif not 48 <= c <= 57:
                digits = False
                break
        if digits and dots == 0 and (v[0] != 48 or n == 1):
            return int(_text(v, n))     # YAML 1.1 reads a leading 0 as octal: that goes to resolve
        if digits and dots >= 2:
            return _text(v, n)          # 10.244.0.1: no number or timestamp has two dots and no '-'
    return resolve(_text(v, n))


cdef class _Builder:
    """Containers under construction; a mapping's pending key sits beside it."""
    cdef list stack
    cdef list keys
    cdef public object root
    cdef public dict first_key_lines     # id(mapping) -> 0-based line of its first key, depth <= 2
    cdef int nodes

    def __cinit__(self):
        self.stack = []
        self.keys = []
        self.root = None
        self.first_key_lines = {}
        self.nodes = 0

    cdef void add(self, object value, size_t line, int max_nodes) except *:
        cdef object top, key
        cdef Py_ssize_t depth = len(self.stack)
        self.nodes += 1
        if self.nodes > max_nodes:
            raise GiveUp("too many nodes")
        if depth == 0:
            self.root = value
            return
        top = self.stack[depth - 1]
        if type(top) is list:
            (<list>top).append(value)
            return
        key = self.keys[depth - 1]
        if key is None:
            if type(value) is not str:
                raise GiveUp("a key that is not a scalar")
            if value == "<<":
                raise GiveUp("a merge key")
            if value in <dict>top:
                raise GiveUp("a duplicate key")
            if not top and depth <= 3:
                self.first_key_lines[id(top)] = line
            self.keys[depth - 1] = value
        else:
            (<dict>top)[key] = value
            self.keys[depth - 1] = None

    cdef void open(self, object container, size_t line, int max_nodes) except *:
        self.add(container, line, max_nodes)
        self.stack.append(container)
        self.keys.append(None)

    cdef void close(self):
        self.stack.pop()
        self.keys.pop()


def compose(bytes data, object resolve, int max_nodes=500000):
    """(root, first_key_lines) of the single document in data (UTF-8), or None when the
    fast path does not serve it. first_key_lines: id(mapping) -> 0-based line of its
    first key, for the mappings at the top and two levels down (a List's items)."""
    cdef yaml_parser_t parser
    cdef yaml_event_t ev
    cdef _Builder b = _Builder()
    cdef yaml_event_type_t t
    cdef bint documents = 0
    cdef bint have_event = 0
    if not yaml_parser_initialize(&parser):
        raise MemoryError()
    yaml_parser_set_input_string(&parser, <const unsigned char *><char *>data, len(data))
    try:
        while True:
            if not yaml_parser_parse(&parser, &ev):
                return None
            have_event = 1
            t = ev.type
            if t == YAML_STREAM_END_EVENT:
                break
            if t == YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1:
                    return None
            elif t == YAML_SCALAR_EVENT:
                if ev.data.scalar.anchor != NULL or (ev.data.scalar.tag != NULL and not (
                        ev.data.scalar.plain_implicit or ev.data.scalar.quoted_implicit)):
                    return None
                if ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE:
                    if b.keys and b.keys[len(b.keys) - 1] is None and type(b.stack[len(b.stack) - 1]) is dict:
                        value = _text(ev.data.scalar.value, ev.data.scalar.length)   # a key: its text
                    else:
                        value = _plain(ev.data.scalar.value, ev.data.scalar.length, resolve)
                else:
                    value = _text(ev.data.scalar.value, ev.data.scalar.length)
                b.add(value, ev.start_mark.line, max_nodes)
            elif t == YAML_SEQUENCE_START_EVENT or t == YAML_MAPPING_START_EVENT:
                if ev.data.mapping_start.anchor != NULL or (ev.data.mapping_start.tag != NULL
                                                             and not ev.data.mapping_start.implicit):
                    return None
                b.open({} if t == YAML_MAPPING_START_EVENT else [], ev.start_mark.line, max_nodes)
            elif t == YAML_SEQUENCE_END_EVENT or t == YAML_MAPPING_END_EVENT:
                b.close()
            elif t == YAML_ALIAS_EVENT:
                return None
            yaml_event_delete(&ev)
            have_event = 0
    except (GiveUp, UnicodeDecodeError):
        return None
    except Exception:
        return None     # resolve() refused a scalar: PyYAML will say why
    finally:
        if have_event:
            yaml_event_delete(&ev)
        yaml_parser_delete(&parser)
    return b.root, b.first_key_lines
