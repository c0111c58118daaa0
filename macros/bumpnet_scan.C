/// \file bumpnet_scan.C
/// Scan histograms for resonances with BumpNet from ROOT.
///
/// From the shell, scan the histograms of a file whose path inside the file
/// matches a glob pattern (the exit status is 0 when at least one was scanned):
///
///     root -l -b -q 'macros/bumpnet_scan.C("file.root", "demo/GMmass*", "out")'
///
/// From a ROOT prompt, a macro or PyROOT (after
/// `ROOT.gROOT.ProcessLine(".L macros/bumpnet_scan.C")`):
///
///     .L macros/bumpnet_scan.C
///     TH1D *z = bumpnet_scan(h, "out");      // h: any 1-D TH1 in memory
///     TList *zs = bumpnet_scan_file("file.root", "demo/*", "out");
///
/// bumpnet_scan(h) and bumpnet_scan_file return Z per bin as TH1Ds with the
/// binning of the input, which the caller owns. Every scan prints Z_max and its
/// mass and, given an output directory, writes there the files of `bumpnet
/// scan`: summary.json, summary.csv, scan_report.json and significance.root (no
/// plots). A histogram in memory is also written to OUTDIR/bumpnet_input.root,
/// the `file` entry of summary.json.
///
/// The network runs in Python. Each call chooses how to reach it and logs the
/// choice once per process:
///  - TPython, where ROOT has libROOTTPython (conda-forge and LCG builds) and
///    `import bumpnet_root` works in its Python. It needs no subprocess.
///  - otherwise the `bumpnet` command in a subprocess, with ROOT files as the
///    exchange format.
///
/// Environment variables:
///  - BUMPNET_MACRO_MODE: `auto` (default), `tpython` or `command`.
///  - BUMPNET_PYTHON: Python executable used as `$BUMPNET_PYTHON -m bumpnet_root`
///    by the command path. Without it, the command is `bumpnet` if it is on
///    PATH, else `python3 -m bumpnet_root`.
///  - BUMPNET_MODEL: model file (default: the model shipped with bumpnet-root).
///
/// NOTE: the command path builds POSIX shell command lines, so it does not
/// work on Windows.

#ifndef BUMPNET_SCAN_C
#define BUMPNET_SCAN_C

#include <sys/wait.h>

#include <any>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <typeinfo>
#include <vector>

#include "TClass.h"
#include "TDirectory.h"
#include "TError.h"
#include "TFile.h"
#include "TH1.h"
#include "TH1D.h"
#include "TInterpreter.h"
#include "TKey.h"
#include "TList.h"
#include "TString.h"
#include "TSystem.h"

namespace bumpnet_detail {

enum class Mode { kFailed, kTPython, kCommand };

inline std::string GetEnv(const char *name)
{
   const char *value = gSystem->Getenv(name);
   return value ? value : "";
}

inline bool IsMissing(const std::string &path)
{
   // TSystem::AccessPathName returns kTRUE when the path is NOT accessible.
   return gSystem->AccessPathName(path.c_str());
}

/// Quotes `text` as one word for /bin/sh.
inline std::string ShellQuote(const std::string &text)
{
   std::string quoted = "'";
   for (char c : text) {
      if (c == '\'')
         quoted += "'\\''";
      else
         quoted += c;
   }
   return quoted + "'";
}

/// Returns `text` as a C++ string literal.
inline std::string CppStringLiteral(const std::string &text)
{
   std::string literal = "\"";
   for (unsigned char c : text) {
      if (c == '\\' || c == '"') {
         literal += '\\';
         literal += static_cast<char>(c);
      } else if (c == '\n') {
         literal += "\\n";
      } else if (c < 0x20) {
         literal += TString::Format("\\%03o", c).Data();
      } else {
         literal += static_cast<char>(c);
      }
   }
   return literal + "\"";
}

/// Returns `text` as a Python string literal, or `None` when it is empty and
/// `emptyIsNone` is set.
inline std::string PyStringLiteral(const std::string &text, bool emptyIsNone = false)
{
   if (text.empty() && emptyIsNone)
      return "None";
   std::string literal = "'";
   for (char c : text) {
      if (c == '\\' || c == '\'') {
         literal += '\\';
         literal += c;
      } else if (c == '\n') {
         literal += "\\n";
      } else if (c == '\r') {
         literal += "\\r";
      } else {
         literal += c;
      }
   }
   return literal + "'";
}

/// Escapes the glob characters of `name`, so that the pattern matches only
/// `name` (Python's fnmatch, as used by `bumpnet scan --select`).
inline std::string GlobEscape(const std::string &name)
{
   std::string pattern;
   for (char c : name) {
      if (c == '*' || c == '?' || c == '[') {
         pattern += '[';
         pattern += c;
         pattern += ']';
      } else {
         pattern += c;
      }
   }
   return pattern;
}

/// Returns `name` with every character other than letters, digits and `_.+-`
/// replaced by `_`, for use as a ROOT key and a file name.
inline std::string SafeName(const std::string &name)
{
   std::string safe;
   for (char c : name) {
      const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                           c == '+' || c == '-';
      safe += allowed ? c : '_';
   }
   return safe.empty() ? "h" : safe;
}

/// Logs `message` with Info once per process.
inline void InfoOnce(const char *location, const std::string &message)
{
   static std::set<std::string> logged;
   if (logged.insert(message).second)
      Info(location, "%s", message.c_str());
}

/// Returns the model file from BUMPNET_MODEL, or "" for the default model.
/// Sets `error` and returns "" when the variable names a missing file.
inline std::string ModelPath(std::string &error)
{
   const std::string model = GetEnv("BUMPNET_MODEL");
   if (!model.empty() && IsMissing(model)) {
      error = "BUMPNET_MODEL is set to '" + model +
              "', but that file does not exist; set it to a model written by "
              "'bumpnet train', or unset it to use the default model";
   }
   return model;
}

// ---------------------------------------------------------------- TPython

/// Loads TPython and caches the result. On failure, returns false and sets `why`.
///
/// TPython is reached only through strings that the interpreter compiles
/// after the library is loaded, so this file also compiles with ROOT builds
/// that lack TPython.h (such as the PyPI wheel).
inline bool LoadTPython(std::string &why)
{
   static int state = -1; // -1: not tried yet, 0: unavailable, 1: loaded
   static std::string reason;
   if (state < 0) {
      state = 0;
      // With load = kTRUE, ROOT's autoloader loads libROOTTPython if it is
      // registered; an already loaded or declared TPython is found directly.
      if (TClass::GetClass("TPython", kTRUE, kTRUE)) {
         state = 1;
      } else {
         TString library = "libROOTTPython";
         if (!gSystem->FindDynamicLibrary(library, kTRUE)) {
            reason = std::string("libROOTTPython was not found in the library path ") +
                     gSystem->GetDynamicPath();
         } else if (gSystem->Load(library) < 0) {
            reason = std::string("loading ") + library.Data() + " failed";
         } else if (!TClass::GetClass("TPython", kTRUE, kTRUE) &&
                    !gInterpreter->Declare("#include \"TPython.h\"")) {
            reason = std::string("loaded ") + library.Data() + ", but the TPython class is not declared";
         } else {
            state = 1;
         }
      }
   }
   why = reason;
   return state == 1;
}

/// Runs Python `code` with `TPython::Exec`. With `result`, the Python variable
/// `_anyresult` (a `std::any`) is swapped into it, so `code` must assign it
/// and must end with a simple statement. Python errors are printed by TPython.
inline bool ExecPython(const std::string &code, std::any *result = nullptr)
{
   std::string line = "TPython::Exec(" + CppStringLiteral(code);
   if (result) {
      line += TString::Format(", (std::any *)0x%llx", static_cast<unsigned long long>(
                                                           reinterpret_cast<std::uintptr_t>(result)))
                 .Data();
   }
   line += ")";
   TInterpreter::EErrorCode error = TInterpreter::kNoError;
   const Longptr_t ok = gInterpreter->Calc(line.c_str(), &error);
   return error == TInterpreter::kNoError && ok != 0;
}

/// Binds `object` to the Python name `label` with `TPython::Bind`.
inline bool BindToPython(TObject *object, const std::string &label)
{
   const std::string line =
      TString::Format("TPython::Bind((TObject *)0x%llx, %s)",
                      static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(object)),
                      CppStringLiteral(label).c_str())
         .Data();
   TInterpreter::EErrorCode error = TInterpreter::kNoError;
   const Longptr_t ok = gInterpreter->Calc(line.c_str(), &error);
   return error == TInterpreter::kNoError && ok != 0;
}

/// Imports bumpnet_root.macro_bridge in TPython's Python and caches the result.
inline bool ImportBridge(std::string &why)
{
   static int state = -1;
   if (state < 0)
      state = ExecPython("import ROOT\nimport bumpnet_root.macro_bridge") ? 1 : 0;
   if (state == 0) {
      why = "'import bumpnet_root.macro_bridge' failed in TPython's Python (the traceback is "
            "above); install bumpnet-root there with 'pip install bumpnet-root'";
   }
   return state == 1;
}

/// Returns a pointer of type T stored in `result`, or nullptr with an error.
template <typename T>
T AnyCast(const std::any &result, const char *location)
{
   try {
      return std::any_cast<T>(result);
   } catch (const std::bad_any_cast &) {
      Error(location, "TPython returned a %s, expected a %s", result.type().name(), typeid(T).name());
      return T();
   }
}

// ---------------------------------------------------------------- choice of the path

/// Chooses between TPython and the command from BUMPNET_MACRO_MODE and what
/// this ROOT build offers, and logs the choice once per process.
inline Mode ChooseMode(const char *location)
{
   std::string requested = GetEnv("BUMPNET_MACRO_MODE");
   for (char &c : requested)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
   if (requested.empty())
      requested = "auto";
   if (requested != "auto" && requested != "tpython" && requested != "command") {
      Error(location, "BUMPNET_MACRO_MODE is set to '%s', which is invalid; set it to auto, tpython or command",
            requested.c_str());
      return Mode::kFailed;
   }
   if (requested == "command") {
      InfoOnce(location, "using the bumpnet command (BUMPNET_MACRO_MODE=command)");
      return Mode::kCommand;
   }
   std::string why;
   const bool tpython = LoadTPython(why) && ImportBridge(why);
   if (requested == "tpython") {
      if (!tpython) {
         Error(location,
               "BUMPNET_MACRO_MODE=tpython, but TPython cannot be used: %s. Use a ROOT build "
               "with TPython (conda-forge or LCG) whose Python has bumpnet-root, or set "
               "BUMPNET_MACRO_MODE=command",
               why.c_str());
         return Mode::kFailed;
      }
      InfoOnce(location, "using TPython (BUMPNET_MACRO_MODE=tpython)");
      return Mode::kTPython;
   }
   if (tpython) {
      InfoOnce(location, "using TPython");
      return Mode::kTPython;
   }
   InfoOnce(location, "using the bumpnet command, because TPython cannot be used: " + why);
   return Mode::kCommand;
}

// ---------------------------------------------------------------- the bumpnet command

/// Returns the shell words that start the command line: $BUMPNET_PYTHON -m
/// bumpnet_root, else bumpnet from PATH, else python3 -m bumpnet_root. Sets
/// `error` and returns "" when none is found.
inline std::string FindCommand(std::string &error)
{
   const std::string python = GetEnv("BUMPNET_PYTHON");
   if (!python.empty())
      return ShellQuote(python) + " -m bumpnet_root";
   const char *path = gSystem->Getenv("PATH");
   if (char *bumpnet = gSystem->Which(path ? path : "", "bumpnet", kExecutePermission)) {
      const std::string command = ShellQuote(bumpnet);
      delete[] bumpnet;
      return command;
   }
   if (char *python3 = gSystem->Which(path ? path : "", "python3", kExecutePermission)) {
      const std::string command = ShellQuote(python3) + " -m bumpnet_root";
      delete[] python3;
      return command;
   }
   error = "neither 'bumpnet' nor 'python3' was found on PATH; install the Python package "
           "with 'pip install bumpnet-root', or set BUMPNET_PYTHON to a Python executable that has it";
   return "";
}

/// Runs `command --version` once per process and command. Returns false and
/// sets `error` when the package is missing, or when `useModel` is set,
/// `model` is empty and the default model is missing.
inline bool CheckCommand(const std::string &command, const std::string &model, bool useModel,
                         std::string &error)
{
   static std::map<std::string, std::string> versions; // command -> output of --version
   auto found = versions.find(command);
   if (found == versions.end()) {
      const std::string line = command + " --version 2>&1";
      FILE *pipe = gSystem->OpenPipe(line.c_str(), "r");
      if (!pipe) {
         error = "could not run '" + line + "'";
         return false;
      }
      std::string output;
      char buffer[512];
      while (fgets(buffer, sizeof buffer, pipe))
         output += buffer;
      const int status = gSystem->ClosePipe(pipe);
      const int exitStatus = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      if (exitStatus != 0 || output.rfind("bumpnet-root ", 0) != 0) {
         error = TString::Format("'%s --version' failed with exit status %d and output:\n%s\nInstall "
                                 "the Python package with 'pip install bumpnet-root' (for the Python "
                                 "that runs this command), or set BUMPNET_PYTHON to a Python "
                                 "executable that has it",
                                 command.c_str(), exitStatus, output.c_str())
                    .Data();
         return false;
      }
      found = versions.emplace(command, output).first;
   }
   if (useModel && model.empty() && found->second.find("default model: not available") != std::string::npos) {
      error = "bumpnet-root is installed, but its default model is missing:\n" + found->second +
              "Reinstall it with 'pip install --force-reinstall bumpnet-root', or set "
              "BUMPNET_MODEL to a model file";
      return false;
   }
   return true;
}

/// Runs the command with the arguments `arguments` (already quoted), with
/// its output going to this process's stdout and stderr. With `useModel`, the
/// model check covers the default model and BUMPNET_MODEL is passed as --model.
inline bool RunCommand(const char *location, const std::string &arguments, bool useModel)
{
   std::string error;
   const std::string model = useModel ? ModelPath(error) : "";
   std::string command = error.empty() ? FindCommand(error) : "";
   if (error.empty())
      CheckCommand(command, model, useModel, error);
   if (!error.empty()) {
      Error(location, "%s", error.c_str());
      return false;
   }
   command += " " + arguments;
   if (!model.empty())
      command += " --model " + ShellQuote(model);
   Info(location, "running %s", command.c_str());
   std::cout.flush();
   fflush(stdout);
   const int status = gSystem->Exec(command.c_str());
   if (status != 0) {
      Error(location, "the command failed with exit status %d (its messages are above): %s",
            WIFEXITED(status) ? WEXITSTATUS(status) : status, command.c_str());
      return false;
   }
   return true;
}

/// Runs `bumpnet scan FILE --out OUTDIR --plots 0 [--select PATTERN]`.
inline bool RunScanCommand(const char *location, const std::string &file, const std::string &pattern,
                           const std::string &outdir)
{
   std::string arguments = "scan " + ShellQuote(file) + " --out " + ShellQuote(outdir) + " --plots 0";
   if (!pattern.empty())
      arguments += " --select " + ShellQuote(pattern);
   return RunCommand(location, arguments, true);
}

// ---------------------------------------------------------------- JSON output of the command

/// Returns `text` as a JSON string as Python's json.dumps writes it for ASCII
/// text (quotes, backslashes and control characters escaped).
inline std::string JsonString(const std::string &text)
{
   std::string json = "\"";
   for (unsigned char c : text) {
      if (c == '"' || c == '\\') {
         json += '\\';
         json += static_cast<char>(c);
      } else if (c < 0x20) {
         json += TString::Format("\\u%04x", c).Data();
      } else {
         json += static_cast<char>(c);
      }
   }
   return json + "\"";
}

/// Returns the position just after `"name"`, optional spaces and `:`, for the
/// first such member at or after `from`, or std::string::npos.
inline size_t FindMember(const std::string &text, const std::string &name, size_t from)
{
   const std::string quoted = JsonString(name);
   for (size_t at = text.find(quoted, from); at != std::string::npos; at = text.find(quoted, at + 1)) {
      size_t next = at + quoted.size();
      while (next < text.size() && std::isspace(static_cast<unsigned char>(text[next])))
         ++next;
      if (next < text.size() && text[next] == ':') {
         ++next;
         while (next < text.size() && std::isspace(static_cast<unsigned char>(text[next])))
            ++next;
         return next;
      }
   }
   return std::string::npos;
}

/// Reads the number array `field` of the entry of a JSON file whose member
/// `idMember` is the string `id`, with null read as NaN. Returns false and
/// sets `error` on failure.
///
/// This is no general JSON parser: it reads the layout that bumpnet_root
/// writes with json.dumps, a list of objects in which `idMember` comes before
/// `field` and `idMember` occurs once per object.
/// NOTE: ids with non-ASCII characters, which json.dumps writes as \u
/// escapes, are not found.
inline bool ReadJsonArray(const std::string &path, const std::string &idMember, const std::string &id,
                          const std::string &field, std::vector<double> &values, std::string &error)
{
   std::ifstream in(path);
   if (!in) {
      error = "cannot open " + path;
      return false;
   }
   std::stringstream buffer;
   buffer << in.rdbuf();
   const std::string text = buffer.str();

   const std::string quotedId = JsonString(id);
   const std::string where = "the entry with " + idMember + " " + quotedId + " of " + path;
   size_t entry = std::string::npos;
   for (size_t at = FindMember(text, idMember, 0); at != std::string::npos; at = FindMember(text, idMember, at)) {
      if (text.compare(at, quotedId.size(), quotedId) == 0) {
         entry = at;
         break;
      }
   }
   if (entry == std::string::npos) {
      error = path + " has no entry with " + idMember + " " + quotedId;
      return false;
   }
   const size_t nextEntry = FindMember(text, idMember, entry);
   size_t at = FindMember(text, field, entry);
   if (at == std::string::npos || (nextEntry != std::string::npos && at > nextEntry) || text[at] != '[') {
      error = where + " has no array \"" + field + "\"";
      return false;
   }
   values.clear();
   ++at;
   while (at < text.size()) {
      while (at < text.size() && (std::isspace(static_cast<unsigned char>(text[at])) || text[at] == ','))
         ++at;
      if (at < text.size() && text[at] == ']')
         return true;
      if (text.compare(at, 4, "null") == 0) {
         values.push_back(std::numeric_limits<double>::quiet_NaN());
         at += 4;
         continue;
      }
      char *end = nullptr;
      const double value = std::strtod(text.c_str() + at, &end);
      if (end == text.c_str() + at) {
         error = "invalid number in \"" + field + "\" of " + where + ": '" + text.substr(at, 20) + "'";
         return false;
      }
      values.push_back(value);
      at = end - text.c_str();
   }
   error = "the array \"" + field + "\" of " + where + " is not closed";
   return false;
}

// ---------------------------------------------------------------- files and histograms

/// An output directory: the requested one (created if needed), or a new
/// temporary one that is removed with this object.
class WorkDirectory {
public:
   WorkDirectory(const std::string &requested, const char *location)
   {
      namespace fs = std::filesystem;
      std::error_code code;
      if (!requested.empty()) {
         fPath = requested;
         fs::create_directories(fPath, code);
         if (code)
            Error(location, "cannot create the directory %s: %s", fPath.c_str(), code.message().c_str());
         fOk = !code;
         return;
      }
      static int counter = 0;
      const fs::path base = fs::temp_directory_path(code);
      for (int attempt = 0; attempt < 100 && !fOk && !code; ++attempt) {
         const fs::path candidate = base / TString::Format("bumpnet_%d_%d", gSystem->GetPid(), counter++).Data();
         fOk = fs::create_directory(candidate, code);
         if (fOk) {
            fPath = candidate.string();
            fTemporary = true;
         }
      }
      if (!fOk)
         Error(location, "cannot create a temporary directory: %s", code.message().c_str());
   }
   ~WorkDirectory()
   {
      if (fTemporary) {
         std::error_code ignored;
         std::filesystem::remove_all(fPath, ignored);
      }
   }
   WorkDirectory(const WorkDirectory &) = delete;
   WorkDirectory &operator=(const WorkDirectory &) = delete;

   bool Ok() const { return fOk; }
   std::string Path(const std::string &name) const { return (std::filesystem::path(fPath) / name).string(); }
   const std::string &Str() const { return fPath; }

private:
   std::string fPath;
   bool fOk = false;
   bool fTemporary = false;
};

/// Writes `h` under the key `key` into a new ROOT file at `path`.
inline bool WriteInput(TH1 *h, const std::string &path, const std::string &key, const char *location)
{
   TDirectory::TContext restoreDirectory;
   std::unique_ptr<TFile> file(TFile::Open(path.c_str(), "RECREATE"));
   if (!file || file->IsZombie()) {
      Error(location, "cannot create %s", path.c_str());
      return false;
   }
   if (h->Write(key.c_str()) <= 0) {
      Error(location, "writing %s into %s failed", h->GetName(), path.c_str());
      return false;
   }
   file->Close();
   return true;
}

/// Gives a Z histogram its final form: detached from any directory, with zero
/// errors (Z has no statistical error bar), named `name` unless empty.
inline TH1D *FinishZ(TH1D *z, const std::string &name)
{
   z->SetDirectory(nullptr);
   if (!name.empty())
      z->SetName(name.c_str());
   if (z->GetSumw2N() == 0)
      z->Sumw2();
   z->GetSumw2()->Reset();
   return z;
}

/// Adds a detached copy of every TH1D in `directory` and its subdirectories
/// to `out`, named by its path (`demo/GMmass`). Older cycles are skipped.
inline void CollectZ(TDirectory *directory, const std::string &prefix, TList *out)
{
   for (TObject *object : *directory->GetListOfKeys()) {
      auto *key = static_cast<TKey *>(object);
      if (directory->GetKey(key->GetName()) != key)
         continue;
      const std::string path = prefix + key->GetName();
      TClass *type = TClass::GetClass(key->GetClassName());
      if (!type)
         continue;
      if (type->InheritsFrom(TDirectory::Class())) {
         if (TDirectory *sub = directory->GetDirectory(key->GetName()))
            CollectZ(sub, path + "/", out);
      } else if (type->InheritsFrom(TH1D::Class())) {
         if (auto *z = key->ReadObject<TH1D>())
            out->Add(FinishZ(static_cast<TH1D *>(z->Clone()), path));
      }
   }
}

/// Reads every Z histogram of a significance.root file into a TList that owns them.
inline TList *ReadSignificance(const std::string &path, const char *location)
{
   TDirectory::TContext restoreDirectory;
   std::unique_ptr<TFile> file(TFile::Open(path.c_str(), "READ"));
   if (!file || file->IsZombie()) {
      Error(location, "cannot open %s", path.c_str());
      return nullptr;
   }
   auto *zs = new TList();
   zs->SetOwner(kTRUE);
   CollectZ(file.get(), "", zs);
   return zs;
}

inline void PrintZMax(TH1 *z, const std::string &label)
{
   const int bin = z->GetMaximumBin();
   printf("%s: Z_max = %.3f at mass %g\n", label.c_str(), z->GetBinContent(bin), z->GetBinCenter(bin));
   fflush(stdout);
}

// ---------------------------------------------------------------- the two scans

inline TList *ScanFile(const std::string &file, const std::string &pattern, const std::string &outdir,
                       const char *location)
{
   if (IsMissing(file)) {
      Error(location, "the file %s does not exist", file.c_str());
      return nullptr;
   }
   std::string error;
   const std::string model = ModelPath(error);
   if (!error.empty()) {
      Error(location, "%s", error.c_str());
      return nullptr;
   }
   TList *zs = nullptr;
   switch (ChooseMode(location)) {
   case Mode::kFailed: return nullptr;
   case Mode::kTPython: {
      const std::string code = "import ROOT\n"
                               "from bumpnet_root import macro_bridge as _bumpnet_bridge\n"
                               "_anyresult = _bumpnet_bridge.scan_file_any(" +
                               PyStringLiteral(file) + ", " + PyStringLiteral(pattern) + ", " +
                               PyStringLiteral(outdir) + ", " + PyStringLiteral(model, true) + ")";
      std::any result;
      if (!ExecPython(code, &result)) {
         Error(location, "scanning %s in Python failed; the Python error is above", file.c_str());
         return nullptr;
      }
      zs = AnyCast<TList *>(result, location);
      break;
   }
   case Mode::kCommand: {
      WorkDirectory directory(outdir, location);
      if (directory.Ok() && RunScanCommand(location, file, pattern, directory.Str()))
         zs = ReadSignificance(directory.Path("significance.root"), location);
      break;
   }
   }
   if (zs) {
      for (TObject *z : *zs)
         PrintZMax(static_cast<TH1 *>(z), file + ":" + z->GetName());
   }
   return zs;
}

inline TH1D *ScanHistogram(TH1 *h, const std::string &outdir, const char *location)
{
   if (!h) {
      Error(location, "the histogram is a null pointer");
      return nullptr;
   }
   if (h->GetDimension() != 1) {
      Error(location, "%s has %d dimensions; project it to a 1-D histogram (ProjectionX) first",
            h->GetName(), h->GetDimension());
      return nullptr;
   }
   std::string error;
   const std::string model = ModelPath(error);
   if (!error.empty()) {
      Error(location, "%s", error.c_str());
      return nullptr;
   }
   const std::string key = SafeName(h->GetName());
   TH1D *z = nullptr;
   switch (ChooseMode(location)) {
   case Mode::kFailed: return nullptr;
   case Mode::kTPython: {
      std::string source;
      if (!outdir.empty()) {
         WorkDirectory directory(outdir, location);
         source = directory.Path("bumpnet_input.root");
         if (!directory.Ok() || !WriteInput(h, source, key, location))
            return nullptr;
      }
      if (!BindToPython(h, "_bumpnet_input")) {
         Error(location, "TPython::Bind failed for %s", h->GetName());
         return nullptr;
      }
      const std::string code = "import ROOT\n"
                               "from bumpnet_root import macro_bridge as _bumpnet_bridge\n"
                               "_anyresult = _bumpnet_bridge.scan_th1_any(_bumpnet_input, " +
                               PyStringLiteral(outdir) + ", " + PyStringLiteral(model, true) + ", " +
                               PyStringLiteral(source) + ", " + PyStringLiteral(key) + ")";
      std::any result;
      if (!ExecPython(code, &result)) {
         Error(location, "scanning %s in Python failed; the Python error is above", h->GetName());
         return nullptr;
      }
      z = AnyCast<TH1D *>(result, location);
      break;
   }
   case Mode::kCommand: {
      WorkDirectory directory(outdir, location);
      const std::string input = directory.Path("bumpnet_input.root");
      if (!directory.Ok() || !WriteInput(h, input, key, location) ||
          !RunScanCommand(location, input, GlobEscape(key), directory.Str()))
         return nullptr;
      const std::string significance = directory.Path("significance.root");
      TDirectory::TContext restoreDirectory;
      std::unique_ptr<TFile> file(TFile::Open(significance.c_str(), "READ"));
      auto *read = file && !file->IsZombie() ? file->Get<TH1D>(key.c_str()) : nullptr;
      if (!read) {
         Error(location, "%s contains no TH1D named %s", significance.c_str(), key.c_str());
         return nullptr;
      }
      // The clone joins gDirectory, the file, so it must leave before the file closes.
      z = FinishZ(static_cast<TH1D *>(read->Clone()), "");
      break;
   }
   }
   if (!z)
      return nullptr;
   FinishZ(z, key + "_z");
   PrintZMax(z, h->GetName());
   return z;
}

} // namespace bumpnet_detail

/// Returns the way to Python that the macros use now: "tpython", "command", or
/// "" when BUMPNET_MACRO_MODE asks for one that cannot be used.
std::string bumpnet_mode()
{
   switch (bumpnet_detail::ChooseMode("bumpnet_mode")) {
   case bumpnet_detail::Mode::kTPython: return "tpython";
   case bumpnet_detail::Mode::kCommand: return "command";
   default: return "";
   }
}

/// Returns the command line prefix of the command path, or "" when none is found.
std::string bumpnet_command()
{
   std::string error;
   const std::string command = bumpnet_detail::FindCommand(error);
   if (command.empty())
      Error("bumpnet_command", "%s", error.c_str());
   return command;
}

/// Scans the 1-D histograms in `file` whose path inside the file matches the
/// glob `pattern` (all when empty) and returns their Z histograms in a TList
/// that owns them (the caller owns the list), each named by its path, such as
/// `demo/GMmass`. Returns nullptr on failure.
TList *bumpnet_scan_file(const char *file, const char *pattern = "", const char *outdir = "")
{
   return bumpnet_detail::ScanFile(file ? file : "", pattern ? pattern : "", outdir ? outdir : "",
                                   "bumpnet_scan_file");
}

/// Scans a 1-D histogram in memory and returns Z per bin as a TH1D named
/// `<name>_z` that the caller owns, or nullptr on failure.
TH1D *bumpnet_scan(TH1 *h, const char *outdir = "")
{
   return bumpnet_detail::ScanHistogram(h, outdir ? outdir : "", "bumpnet_scan");
}

/// Scans histograms in a file like bumpnet_scan_file and returns the exit
/// status for `root -q`: 0 when at least one histogram was scanned, else 1.
int bumpnet_scan(const char *file, const char *pattern = "", const char *outdir = "")
{
   std::unique_ptr<TList> zs(bumpnet_scan_file(file, pattern, outdir));
   return zs && zs->GetSize() > 0 ? 0 : 1;
}

/// Prints the usage. `root macros/bumpnet_scan.C` without arguments calls it.
int bumpnet_scan()
{
   printf("usage: root -l -b -q 'macros/bumpnet_scan.C(\"file.root\", \"pattern\", \"outdir\")'\n"
          "   or: .L macros/bumpnet_scan.C, then bumpnet_scan(h, \"outdir\") for a TH1* h\n");
   return 2;
}

#endif // BUMPNET_SCAN_C
