// Demangled names (checked against c++filt's output, parameters left out) and the names
// that are left as they are rather than half-decoded.
import { describe, expect, test } from "bun:test";
import { demangle } from "./demangle.ts";

describe("demangle", () => {
  test("C++ plain, nested, std::, constructors, destructors, clones", () => {
    expect(demangle("_Z8hot_leafv")).toBe("hot_leaf");
    expect(demangle("_ZN3foo3Bar6methodEi")).toBe("foo::Bar::method");
    expect(demangle("_ZNK3foo3Bar5constEv")).toBe("foo::Bar::const");
    expect(demangle("_ZN3foo3BarC2Ev")).toBe("foo::Bar::Bar");
    expect(demangle("_ZN3foo3BarD0Ev")).toBe("foo::Bar::~Bar");
    expect(demangle("_ZNSt6thread6_StateD2Ev")).toBe("std::thread::_State::~_State");
    expect(demangle("_ZN3foo4workEv.cold")).toBe("foo::work.cold");
    // static (internal linkage), seen in libjvm.so
    expect(demangle("_ZL17jni_invoke_staticP7JNIEnv_P9JavaValueP8_jobject11JNICallTypeP10_jmethodID.constprop.1")).toBe("jni_invoke_static.constprop.1");
  });

  test("Rust legacy: the hash goes, escapes are decoded", () => {
    expect(demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE")).toBe("core::ptr::drop_in_place");
    expect(demangle("_ZN5alloc3vec12Vec$LT$T$GT$4push17hfedcba9876543210E")).toBe("alloc::vec::Vec<T>::push");
  });

  test("left unchanged: C names, templates, substitutions, operators, Rust v0, garbage", () => {
    for (const s of ["main", "_ZN3fooIiE3barEv", "_ZNS_3fooEv", "_ZN3FoopLERKS_", "_RNvCs1234_5hello4main", "_Z", "_ZN", "_Z99x", "_ZN3fo"]) expect(demangle(s)).toBe(s);
  });
});
