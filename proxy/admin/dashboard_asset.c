/* dashboard_asset: proxy/admin/dashboard.html, embedded in the binary when this
 * file is compiled (the assembler's .incbin, no build step, no generated
 * source). Declared in admin_int.h: sp_dashboard_html (NUL-terminated) and
 * sp_dashboard_html_end. The path is relative to the directory the compiler
 * runs in, the repository root (the Makefile's). This object must be rebuilt
 * when dashboard.html changes: the Makefile lists it as a dependency. */
__asm__(".section .rodata\n"
        ".global sp_dashboard_html\n"
        ".type sp_dashboard_html, %object\n"
        ".balign 16\n"
        "sp_dashboard_html:\n"
        ".incbin \"proxy/admin/dashboard.html\"\n"
        ".global sp_dashboard_html_end\n"
        "sp_dashboard_html_end:\n"
        ".byte 0\n"
        ".size sp_dashboard_html, . - sp_dashboard_html\n"
        ".previous\n");
